export { extAuthzImplementation, extAuthzServiceDefinition } from './ext_authz_service.js';
export type { ExtAuthzOptions, ExtAuthzResponse } from './ext_authz_service.js';
