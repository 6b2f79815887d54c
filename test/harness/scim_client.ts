/** A SCIM client over real HTTP, as an IdP's provisioning agent would be. */
export interface ScimResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> | undefined;
}

export class ScimClient {
  readonly #base: string;
  readonly #token: string | undefined;

  constructor(origin: string, tenant: string, token: string | undefined) {
    this.#base = `${origin}/scim/v2/${tenant}`;
    this.#token = token;
  }

  /** `body`: JSON-encoded unless it is a string or raw bytes (sent as they are). */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<ScimResponse> {
    const response = await fetch(`${this.#base}${path}`, {
      method,
      ...(signal === undefined ? {} : { signal }),
      headers: {
        ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        ...headers,
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    };
  }

  get(path: string): Promise<ScimResponse> {
    return this.request('GET', path);
  }

  post(path: string, body: unknown): Promise<ScimResponse> {
    return this.request('POST', path, body);
  }

  put(path: string, body: unknown, headers?: Record<string, string>): Promise<ScimResponse> {
    return this.request('PUT', path, body, headers);
  }

  patch(path: string, operations: unknown[], headers?: Record<string, string>): Promise<ScimResponse> {
    return this.request(
      'PATCH',
      path,
      { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: operations },
      headers,
    );
  }

  delete(path: string, headers?: Record<string, string>): Promise<ScimResponse> {
    return this.request('DELETE', path, undefined, headers);
  }
}

/** The stream sequence a SCIM write reports, for a Check's min_sequence. */
export function sequenceOf(response: ScimResponse): number {
  const header = response.headers.get('x-ipsie-sequence');
  const sequence = Number(header);
  if (header === null || !Number.isSafeInteger(sequence) || sequence <= 0) {
    throw new Error(`the write response has no X-Ipsie-Sequence (got ${String(header)})`);
  }
  return sequence;
}
