export { healthReport, policyReadiness } from './health_report.js';
export { metricsRoute } from './metrics_route.js';
export type { ComponentHealth, HealthReport, TenantReadiness } from './health_report.js';
export { GATEWAY_APIS, GatewayMetrics } from './gateway_metrics.js';
export type { GatewayApi } from './gateway_metrics.js';
export type { GatewayState } from './gateway_metrics.js';
export { SidecarMetrics } from './sidecar_metrics.js';
export type { SidecarState } from './sidecar_metrics.js';
export type { RebuildState } from './rebuild_metrics.js';
