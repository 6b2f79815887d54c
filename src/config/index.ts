export {
  parseConfig,
  DEFAULT_BATCH_MAX_ITEMS,
  DEFAULT_GRPC_ADDRESS,
  DEFAULT_OPA_BUILD_TIMEOUT_MS,
  DEFAULT_STORE_PATH,
} from './config.js';
export type { Config, GatewayConfig, GrpcConfig, LogLevel, NatsConfig, PolicyConfig, StoreConfig } from './config.js';
export type { GatewayTenant } from './gateway_tenants.js';
export { ConfigInvalidError } from './errors.js';
