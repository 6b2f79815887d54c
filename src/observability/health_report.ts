/** One part of the process and whether it is fit to serve. */
export interface ComponentHealth {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * `/readyz`: ready only when every component is. The sidecar's are the store
 * (open), the policies (one loaded for every tenant the store knows) and the
 * stream (caught up, not stale).
 */
export function healthReport(components: Readonly<Record<string, ComponentHealth>>): {
  readonly ready: boolean;
  readonly components: Readonly<Record<string, ComponentHealth>>;
} {
  return { ready: Object.values(components).every((c) => c.ok), components };
}
