export { createAdminRouter } from './admin_router.js';
export type { AdminRouterOptions } from './admin_router.js';
export { AdminError } from './errors.js';
