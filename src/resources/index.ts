export { createResourceRouter, RESOURCE_API_PREFIX } from './resource_router.js';
export type { ResourceRouterOptions } from './resource_router.js';
export { ResourceApiError } from './errors.js';
