export { envoyAuthPackage, extAuthzImplementation, extAuthzServiceDefinition } from './ext_authz_service.js';
export type { EnvoyAuthPackage, ExtAuthzOptions, ExtAuthzResponse } from './ext_authz_service.js';
