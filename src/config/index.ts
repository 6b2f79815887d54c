export { parseConfig } from './config.js';
export {
  DEFAULT_BATCH_MAX_ITEMS,
  DEFAULT_GRPC_SOCKET,
  DEFAULT_GRPC_SOCKET_MODE,
  DEFAULT_OPA_BUILD_TIMEOUT_MS,
  DEFAULT_STORE_PATHS,
  PROCESS_SETTINGS,
  SETTING_VARIABLES,
  settingsReference,
} from './process_settings.js';
export type { ConfigRole, LogLevel, SettingReference, SettingVariable } from './process_settings.js';
export type {
  Config,
  HealthConfig,
  TokensConfig,
  GatewayConfig,
  ResourcesConfig,
  GrpcConfig,
  TlsFiles,
  NatsConfig,
  PolicyConfig,
  SignalsConfig,
  TxnTokensConfig,
  TenantKeysConfig,
  StoreConfig,
} from './config.js';
export {
  DEFAULT_LOGOUT_TOKEN_MAX_AGE_S,
  DEFAULT_MAX_SESSION_LIFETIME_S,
  DEFAULT_SAML_CLOCK_SKEW_S,
  DEFAULT_SAML_METADATA_REFRESH_S,
  DEFAULT_SAML_NAME_ID_FORMATS,
  DEFAULT_SAML_REQUEST_TTL_S,
  MAX_SAML_REQUEST_TTL_S,
  DEFAULT_STEP_UP_PARAMETERS,
  DEFAULT_SUBJECT_TYPES,
  KEY_PROVIDER_KINDS,
  STEP_UP_PARAMETERS,
  tenantsJsonSchema,
  USER_IDENTIFIERS,
} from './tenant_settings.js';
export type {
  BackchannelLogoutSettings,
  CustomerManagedKeySettings,
  KeyProviderKind,
  StepUpParameter,
  IdentityProviderSettings,
  ReceiverManagementSettings,
  ReceiverSettings,
  SamlIdentityProviderSettings,
  SamlSettings,
  SubjectTypeSettings,
  TenantSettings,
  UserIdentifier,
  TransmitterSettings,
} from './tenant_settings.js';
export { ConfigInvalidError } from './errors.js';
