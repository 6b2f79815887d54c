export { IdentifierResolver } from './identifier_resolver.js';
export type { IdentifierDirectory } from './identifier_resolver.js';
export { recordIdentifierOf, resolveInOrder } from './user_identifier.js';
export type { UserResolution } from './user_identifier.js';
