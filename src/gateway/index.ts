export { createGatewayApp, listen } from './gateway_app.js';
export type { GatewayAppOptions } from './gateway_app.js';
