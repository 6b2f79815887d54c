export { createResourceRouter, RESOURCE_API_PREFIX } from './resource_router.js';
export type { ResourceRouterOptions } from './resource_router.js';
export { ResourceWriter } from './resource_writer.js';
export type { ResourceWriterOptions } from './resource_writer.js';
export { resourceService } from './resource_service.js';
export type { ResourceServiceOptions } from './resource_service.js';
export { ResourceApiError } from './errors.js';
