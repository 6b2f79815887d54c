import { DEFAULT_STEP_UP_PARAMETERS } from '../config/index.js';
import type { StepUpParameter } from '../config/index.js';

/** A step-up as the policy answered it (RFC 9470 parameters). */
export interface StepUp {
  readonly acrValues: readonly string[];
  readonly maxAge: number | undefined;
}

/**
 * The RFC 9470 challenge for a step-up: what an HTTP resource server sends
 * in `WWW-Authenticate` so the client re-authenticates at the IdP with these
 * `acr_values` and `max_age`.
 */
export function stepUpChallenge(stepUp: StepUp): string {
  const parts = [
    'Bearer error="insufficient_user_authentication"',
    'error_description="A different authentication level is required"',
  ];
  if (stepUp.acrValues.length > 0) parts.push(`acr_values="${quoted(stepUp.acrValues.join(' '))}"`);
  if (stepUp.maxAge !== undefined) parts.push(`max_age="${stepUp.maxAge}"`);
  return parts.join(', ');
}

/**
 * What the app adds to its next OpenID Connect authorization request so that
 * the IdP actually steps up. `acr_values` alone is a voluntary claim (OIDC
 * Core §3.1.2.1): an OP with a live session at a weaker level may answer with
 * that level, and the app loops on STEP_UP. An essential acr in the `claims`
 * request binds it (§5.5.1.1: authenticate to one of the values, or fail).
 * Some IdPs take only one of the two, and a certified OP reads `acr_values`
 * over `claims` when both are sent: `parameters` says which this IdP gets.
 * A re-authentication that `max_age=0` demands is also `prompt=login`.
 */
export function authorizationParams(
  stepUp: StepUp,
  parameters: readonly StepUpParameter[] = DEFAULT_STEP_UP_PARAMETERS,
): Record<string, string> {
  const params: Record<string, string> = {};
  if (stepUp.acrValues.length > 0) {
    if (parameters.includes('acr_values')) params['acr_values'] = stepUp.acrValues.join(' ');
    if (parameters.includes('claims')) {
      params['claims'] = JSON.stringify({ id_token: { acr: { essential: true, values: stepUp.acrValues } } });
    }
  }
  if (stepUp.maxAge !== undefined) params['max_age'] = String(stepUp.maxAge);
  if (stepUp.maxAge === 0) params['prompt'] = 'login';
  return params;
}

function quoted(value: string): string {
  return value.replace(/[\\"]/g, (c) => `\\${c}`);
}
