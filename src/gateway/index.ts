export { createGatewayApp, listen } from './gateway_app.js';
export type { GatewayAppOptions } from './gateway_app.js';
export { readRequestBody, RequestBodyTooLargeError } from './request_body.js';
