import { SignJWT } from 'jose';
import type { SigningKey } from './signing_keys.js';

/** Where a SET is pushed (RFC 8935), and the `Authorization` header value to send with it. */
export interface PushTarget {
  readonly endpointUrl: string;
  readonly authorization: string | undefined;
}

/** How a push ended: taken, refused (4xx: do not send it again), or to be sent again (429, 5xx, network). */
export type PushOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | {
      readonly kind: 'refused';
      readonly status: number;
      readonly err: string | undefined;
      readonly description: string;
    }
  | { readonly kind: 'retry'; readonly reason: string };

/** The claims of one SET we transmit; `iat` is now. */
export interface SetClaims {
  readonly issuer: string;
  readonly audience: string;
  readonly jti: string;
  readonly txn?: string;
  readonly subId: Readonly<Record<string, unknown>>;
  readonly events: Readonly<Record<string, unknown>>;
}

/** Signs a SET (`typ` `secevent+jwt`, SSF §4.1.1; never `sub` or `exp`, SSF §4.1.2, §4.1.7). */
export async function signSet(key: SigningKey, claims: SetClaims): Promise<string> {
  return await new SignJWT({
    sub_id: claims.subId,
    events: claims.events,
    ...(claims.txn === undefined ? {} : { txn: claims.txn }),
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'secevent+jwt' })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt()
    .setJti(claims.jti)
    .sign(key.key);
}

/** RFC 8935 §2: POSTs the SET; 2xx is delivered, an RFC 8935 error body is read when there is one. */
export async function pushSet(set: string, target: PushTarget, timeoutMs: number): Promise<PushOutcome> {
  let response: Response;
  try {
    response = await fetch(target.endpointUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/secevent+jwt',
        accept: 'application/json',
        ...(target.authorization === undefined ? {} : { authorization: target.authorization }),
      },
      body: set,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    return { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return { kind: 'delivered', status: response.status };
  if (response.status === 429 || response.status >= 500) {
    return { kind: 'retry', reason: `HTTP ${response.status}` };
  }
  let err: string | undefined;
  let description = text.slice(0, 500);
  try {
    const body = JSON.parse(text) as { err?: unknown; description?: unknown };
    if (typeof body.err === 'string') err = body.err;
    if (typeof body.description === 'string') description = body.description;
  } catch {
    // Not the RFC 8935 error body: keep the text.
  }
  return { kind: 'refused', status: response.status, err, description };
}
