export { createGatewayApp, listen } from './gateway_app.js';
export type { GatewayAppOptions, HttpServer, HttpTlsFiles, Listening, ListenOptions } from './gateway_app.js';
export { readJsonObject, readRequestBody } from './request_body.js';
export { RequestBodyTooLargeError } from './errors.js';
export { HTTP_STATUS, httpFailureOf, logFailure } from './http_status.js';
export type { HttpFailure } from './http_status.js';
export { refusedAuthentications } from './refused_authentication.js';
export type { TenantApiOf } from './refused_authentication.js';
export { answerProblem } from './problem_response.js';
