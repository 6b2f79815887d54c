/** One part of the process and whether it is fit to serve. */
export interface ComponentHealth {
  readonly ok: boolean;
  readonly detail: string;
}

/** Whether one tenant can be served: its own decisions fail closed while it is not. */
export interface TenantReadiness {
  readonly ready: boolean;
  readonly detail: string;
}

export interface HealthReport {
  readonly ready: boolean;
  readonly components: Readonly<Record<string, ComponentHealth>>;
  /** Per tenant (`/readyz/<tenant>`), when the process serves tenants. */
  readonly tenants?: Readonly<Record<string, TenantReadiness>>;
}

/**
 * `/readyz`: ready only when every component is. The sidecar's are the store
 * (open), the policies (see {@link policyReadiness}) and the stream (caught
 * up, not stale).
 */
export function healthReport(
  components: Readonly<Record<string, ComponentHealth>>,
  tenants?: Readonly<Record<string, TenantReadiness>>,
): HealthReport {
  return {
    ready: Object.values(components).every((c) => c.ok),
    components,
    ...(tenants === undefined ? {} : { tenants }),
  };
}

/**
 * The policies component and each tenant's readiness. A tenant without a policy is not ready (its decisions
 * fail closed), but it does not take the process out of service for the tenants that have one: the component
 * is down only when the store knows tenants and none has a policy.
 */
export function policyReadiness(
  tenantIds: readonly string[],
  policyVersion: (tenantId: string) => string | undefined,
): { readonly component: ComponentHealth; readonly tenants: Record<string, TenantReadiness> } {
  const tenants: Record<string, TenantReadiness> = {};
  const missing: string[] = [];
  for (const tenant of tenantIds) {
    const version = policyVersion(tenant);
    if (version === undefined) missing.push(tenant);
    tenants[tenant] =
      version === undefined
        ? { ready: false, detail: 'no policy: its decisions fail closed' }
        : { ready: true, detail: `policy ${version}` };
  }
  const ok = tenantIds.length === 0 || missing.length < tenantIds.length;
  const detail =
    missing.length === 0
      ? 'every tenant has a policy'
      : `no policy for ${missing.join(', ')}${ok ? ' (the other tenants are served)' : ''}`;
  return { component: { ok, detail }, tenants };
}
