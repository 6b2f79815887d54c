/**
 * The RFC 9470 challenge for a step-up: what an HTTP resource server sends
 * in `WWW-Authenticate` so the client re-authenticates at the IdP with these
 * `acr_values` and `max_age`.
 */
export function stepUpChallenge(stepUp: {
  readonly acrValues: readonly string[];
  readonly maxAge: number | undefined;
}): string {
  const parts = [
    'Bearer error="insufficient_user_authentication"',
    'error_description="A different authentication level is required"',
  ];
  if (stepUp.acrValues.length > 0) parts.push(`acr_values="${quoted(stepUp.acrValues.join(' '))}"`);
  if (stepUp.maxAge !== undefined) parts.push(`max_age="${stepUp.maxAge}"`);
  return parts.join(', ');
}

function quoted(value: string): string {
  return value.replace(/[\\"]/g, (c) => `\\${c}`);
}
