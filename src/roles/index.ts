export { startSidecar } from './sidecar.js';
export type { RunningSidecar, SidecarOptions, SidecarReadiness } from './sidecar.js';
export { startGateway } from './gateway.js';
export type { GatewayOptions, RunningGateway } from './gateway.js';
export { processStorePath, shutdownRequested, startSidecarRole } from './sidecar_processes.js';
export type { RunningSidecarRole } from './sidecar_processes.js';
