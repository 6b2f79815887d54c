/**
 * What the middleware answers, whatever the framework: continue on ALLOW,
 * 403 on DENY, 401 with the RFC 9470 challenge on STEP_UP, and 503 when no
 * decision could be had. It never continues without an ALLOW.
 */
import { isSidecarClientError } from './errors.js';
import type { CallOptions, SidecarClient } from './sidecar_client.js';
import type { CheckInput, CheckResult, Reason } from './types.js';

/**
 * Maps an incoming request to the Check that guards it: the subject from the
 * app's session or bearer token, the action, the resource. `undefined` when
 * the request has no subject at all (no session): answered 401.
 */
export type CheckMapper<Request> = (request: Request) => CheckInput | undefined | Promise<CheckInput | undefined>;

export interface AuthorizationOptions<Request> {
  readonly client: SidecarClient;
  readonly check: CheckMapper<Request>;
  /** Deadline of each Check, in ms. @defaultValue the client's */
  readonly deadlineMs?: number | undefined;
  /** Seconds in `Retry-After` of a 503. @defaultValue 1 */
  readonly retryAfterS?: number | undefined;
}

/** A refusal, ready to send as JSON. */
export interface HttpRefusal {
  readonly status: 401 | 403 | 503;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: RefusalBody;
}

export type RefusalBody =
  /** 401 without a subject. */
  | { readonly error: 'unauthenticated' }
  /** 403: the decision's reasons, e.g. `POLICY_DENIED`, `ACCOUNT_INACTIVE`. */
  | {
      readonly error: 'access_denied';
      readonly reason: string;
      readonly reasons: readonly Reason[];
      readonly decision_id: string;
    }
  /** 401 (RFC 9470 §3): what the next authorization request must ask the IdP for. */
  | {
      readonly error: 'insufficient_user_authentication';
      readonly acr_values: readonly string[];
      readonly max_age?: number;
      readonly authorization_params: Readonly<Record<string, string>>;
      readonly reasons: readonly Reason[];
      readonly decision_id: string;
    }
  /** 503: no decision (the sidecar unreachable, too slow, refusing, or cut off from its data: STALE_DATA). */
  | { readonly error: 'authorization_unavailable'; readonly reason: string };

export type HttpAuthorization =
  { readonly allowed: true; readonly result: CheckResult } | { readonly allowed: false; readonly refusal: HttpRefusal };

/**
 * Asks the sidecar about `input` and says what to answer. A failed call is
 * a 503, never an ALLOW.
 */
export async function authorizeHttp(
  client: SidecarClient,
  input: CheckInput | undefined,
  options: CallOptions & { readonly retryAfterS?: number | undefined } = {},
): Promise<HttpAuthorization> {
  if (input === undefined) {
    return {
      allowed: false,
      refusal: { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: 'unauthenticated' } },
    };
  }
  let result: CheckResult;
  try {
    result = await client.check(input, options);
  } catch (error) {
    const reason = isSidecarClientError(error) ? error.reason : 'UNRECOGNIZED';
    return { allowed: false, refusal: unavailable(reason, options.retryAfterS) };
  }
  const refusal = refusalFor(result, options.retryAfterS);
  return refusal === undefined ? { allowed: true, result } : { allowed: false, refusal };
}

/** The HTTP refusal for a decision; undefined for ALLOW. */
export function refusalFor(result: CheckResult, retryAfterS = 1): HttpRefusal | undefined {
  switch (result.decision) {
    case 'ALLOW':
      return undefined;
    case 'DENY': {
      // Fail closed, but say it is the sidecar's state and not the user's rights: a retry may succeed.
      if (result.reasons.some((r) => r.code === 'STALE_DATA')) return unavailable('STALE_DATA', retryAfterS);
      return {
        status: 403,
        headers: {},
        body: {
          error: 'access_denied',
          reason: result.reasons[0]?.code ?? 'POLICY_DENIED',
          reasons: result.reasons,
          decision_id: result.decisionId,
        },
      };
    }
    case 'STEP_UP': {
      const { stepUp } = result;
      return {
        status: 401,
        headers: { 'www-authenticate': stepUp.wwwAuthenticate || stepUpChallenge(stepUp.acrValues, stepUp.maxAge) },
        body: {
          error: 'insufficient_user_authentication',
          acr_values: stepUp.acrValues,
          ...(stepUp.maxAge === undefined ? {} : { max_age: stepUp.maxAge }),
          authorization_params: stepUp.authorizationParams,
          reasons: result.reasons,
          decision_id: result.decisionId,
        },
      };
    }
  }
}

function unavailable(reason: string, retryAfterS = 1): HttpRefusal {
  return {
    status: 503,
    headers: { 'retry-after': String(retryAfterS) },
    body: { error: 'authorization_unavailable', reason },
  };
}

/** RFC 9470 §3, for a sidecar that did not send its own challenge. */
function stepUpChallenge(acrValues: readonly string[], maxAge: number | undefined): string {
  const parts = ['Bearer error="insufficient_user_authentication"'];
  if (acrValues.length > 0) parts.push(`acr_values="${acrValues.join(' ').replace(/["\\]/g, '')}"`);
  if (maxAge !== undefined) parts.push(`max_age="${maxAge}"`);
  return parts.join(', ');
}
