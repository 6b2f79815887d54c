export { startSidecar } from './sidecar.js';
export type { RunningSidecar, SidecarOptions } from './sidecar.js';
