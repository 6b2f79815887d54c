export { healthReport } from './health_report.js';
export type { ComponentHealth } from './health_report.js';
export { SidecarMetrics } from './sidecar_metrics.js';
export type { SidecarState } from './sidecar_metrics.js';
