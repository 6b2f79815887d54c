export { createGatewayApp, listen } from './gateway_app.js';
export type { GatewayAppOptions } from './gateway_app.js';
export { readRequestBody, RequestBodyTooLargeError } from './request_body.js';
export { refusedAuthentications } from './refused_authentication.js';
export type { TenantApiOf } from './refused_authentication.js';
