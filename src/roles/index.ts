export { startSidecar } from './sidecar.js';
export type { RunningSidecar, SidecarOptions } from './sidecar.js';
export { startGateway } from './gateway.js';
export type { GatewayOptions, RunningGateway } from './gateway.js';
