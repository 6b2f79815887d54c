/**
 * The `input` document every tenant policy sees (policies/README.md).
 * Entitlements travel here rather than in Wasm `data`, which the SDK would
 * re-serialize whole on every change.
 */
export interface PolicyInput {
  readonly tenant: string;
  /** Unix seconds at decision time; policies have no clock of their own. */
  readonly now: number;
  readonly subject: {
    readonly id: string;
    readonly user_name: string;
    readonly external_id: string | null;
    readonly active: boolean;
    readonly attributes: Readonly<Record<string, unknown>>;
    readonly roles: readonly string[];
    readonly groups: readonly {
      readonly id: string;
      readonly display_name: string;
      readonly external_id: string | null;
    }[];
    readonly reauthenticate_after?: number;
    /** What the caller said about the subject (AuthZEN `subject.properties`), when it said anything: unverified. */
    readonly properties?: Readonly<Record<string, unknown>>;
  };
  readonly session: {
    readonly id: string;
    readonly issuer: string;
    readonly acr: string | null;
    readonly amr: readonly string[];
    readonly auth_time: number | null;
    readonly expires_at: number;
    readonly revoked: boolean;
    readonly ip: string | null;
    readonly device_id: string | null;
  } | null;
  readonly posture: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly action: { readonly name: string; readonly properties: Readonly<Record<string, unknown>> };
  /** Any other member the caller sent (AuthZEN) sits beside these. */
  readonly resource: Readonly<Record<string, unknown>> & {
    readonly type: string;
    readonly id: string;
    /** What the caller says about the resource: its word, as it sent it. */
    readonly properties: Readonly<Record<string, unknown>>;
    /**
     * What the store holds about the resource, written by the app through the gateway (docs/resources.md):
     * present only when the resource is stored. Never from the request: a caller's own `stored` is dropped.
     */
    readonly stored?: StoredResourceInput;
  };
  readonly context: Readonly<Record<string, unknown>>;
}

/** `input.resource.stored`: the stored resource's attributes and relations, and the subject's relations on it. */
export interface StoredResourceInput {
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The resource's own relations, in key order (at most the gateway's fan-out bound). */
  readonly relations: readonly {
    readonly relation: string;
    readonly subject: { readonly kind: 'user' | 'group' | 'resource'; readonly type?: string; readonly id: string };
  }[];
  /**
   * The relations the subject of the decision holds on the resource: named, through one of its groups, or on
   * an ancestor (the `parent` chain, within the configured depth), in name order.
   */
  readonly subject_relations: readonly string[];
}

/** The half of the input that describes who is asking (the same for every item of a batch). */
export type SubjectInput = Pick<PolicyInput, 'tenant' | 'now' | 'subject' | 'session' | 'posture'>;

/** The half that describes what is asked. */
export type RequestInput = Pick<PolicyInput, 'action' | 'resource' | 'context'>;

/** An input serialized to the JSON bytes the Wasm module parses. */
export interface EncodedPolicyInput {
  readonly bytes: ArrayBuffer;
}

const UTF8 = new TextEncoder();

/**
 * Serializes the subject half once and each request half on demand, so a
 * BatchCheck of n items stringifies the subject once, not n times.
 */
export class PolicyInputEncoder {
  /** The subject object's JSON without its closing brace. */
  readonly #prefix: string;

  constructor(subject: SubjectInput) {
    this.#prefix = JSON.stringify(subject).slice(0, -1);
  }

  /** The input of `ipsie/authz/batch_decisions`: the subject once, the requests as `items`. */
  encodeBatch(requests: readonly RequestInput[]): EncodedPolicyInput {
    return { bytes: UTF8.encode(`${this.#prefix},"items":${JSON.stringify(requests)}}`).buffer };
  }

  encode(request: RequestInput): EncodedPolicyInput {
    // Both halves are non-empty objects: splice "{...subject" + "," + "request...}".
    const text = `${this.#prefix},${JSON.stringify(request).slice(1)}`;
    return { bytes: UTF8.encode(text).buffer };
  }
}

/** Encodes a whole input at once. */
export function encodePolicyInput(input: PolicyInput): EncodedPolicyInput {
  const { action, resource, context, ...subject } = input;
  return new PolicyInputEncoder(subject).encode({ action, resource, context });
}

const OPEN = { type: 'object', additionalProperties: true } as const;
const nullable = (schema: Record<string, unknown>): Record<string, unknown> => ({
  anyOf: [schema, { type: 'null' }],
});
const closed = (properties: Record<string, unknown>, description?: string): Record<string, unknown> => ({
  type: 'object',
  ...(description === undefined ? {} : { description }),
  properties,
  additionalProperties: false,
});

/**
 * The JSON Schema of {@link PolicyInput} with `subject.attributes` as given (the tenant's attribute catalog:
 * docs/attributes.md), for `opa check --schema`. The documented members are closed, so a policy reading one
 * that does not exist fails its upload with the file and line; the open ones (posture, properties, resource,
 * context) stay open. Batch inputs carry `items`, each a request half.
 */
export function policyInputJsonSchema(attributes: Record<string, unknown>): Record<string, unknown> {
  const request = {
    action: closed({ name: { type: 'string' }, properties: OPEN }),
    resource: {
      type: 'object',
      properties: { type: { type: 'string' }, id: { type: 'string' }, properties: OPEN },
      additionalProperties: true,
    },
    context: OPEN,
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'policy input',
    ...closed({
      tenant: { type: 'string' },
      now: { type: 'number' },
      subject: closed({
        id: { type: 'string' },
        user_name: { type: 'string' },
        external_id: nullable({ type: 'string' }),
        active: { type: 'boolean' },
        attributes,
        roles: { type: 'array', items: { type: 'string' } },
        groups: {
          type: 'array',
          items: closed({
            id: { type: 'string' },
            display_name: { type: 'string' },
            external_id: nullable({ type: 'string' }),
          }),
        },
        reauthenticate_after: { type: 'number' },
        properties: OPEN,
      }),
      session: nullable(
        closed({
          id: { type: 'string' },
          issuer: { type: 'string' },
          acr: nullable({ type: 'string' }),
          amr: { type: 'array', items: { type: 'string' } },
          auth_time: nullable({ type: 'number' }),
          expires_at: { type: 'number' },
          revoked: { type: 'boolean' },
          ip: nullable({ type: 'string' }),
          device_id: nullable({ type: 'string' }),
        }),
      ),
      posture: OPEN,
      ...request,
      items: { type: 'array', items: closed(request) },
    }),
  };
}
