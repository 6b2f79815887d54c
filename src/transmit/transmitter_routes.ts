import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { SigningKeyRing } from './signing_keys.js';
import { PUSH_DELIVERY } from './stream_management.js';
import { STREAM_MANAGEMENT_PATHS } from './stream_management_routes.js';

export const TRANSMITTER_JWKS_PATH = '/ssf/v1/jwks';
const WELL_KNOWN = '/.well-known/ssf-configuration';

/**
 * What a tenant's IdP (our SETs' receiver) reads: our SSF Transmitter
 * Configuration Metadata (SSF §7) and the JWKS it names. The metadata is at
 * `/.well-known/ssf-configuration` followed by our issuer's path (SSF §7.2:
 * inserted between host and path, so a public URL with a path such as
 * `https://app.example/ipsie` is served at `/.well-known/ssf-configuration/ipsie`,
 * as a proxy forwards it), and at the bare well-known path for a proxy that
 * strips the issuer's path. It names the stream management endpoints when
 * some tenant's receiver may manage its stream.
 */
export function createTransmitterRoutes(options: {
  keys: SigningKeyRing;
  issuer: () => string;
  streamManagement: boolean;
}): Middleware {
  const router = new Router();
  const metadata: Middleware = async (ctx, next) => {
    const issuer = options.issuer();
    const path = new URL(issuer).pathname.replace(/\/$/, '');
    if (ctx.method !== 'GET' || (ctx.path !== WELL_KNOWN && ctx.path !== `${WELL_KNOWN}${path}`)) {
      await next();
      return;
    }
    const at = (endpoint: string): string => `${issuer.replace(/\/$/, '')}${endpoint}`;
    ctx.body = {
      spec_version: '1_0',
      issuer,
      jwks_uri: at(TRANSMITTER_JWKS_PATH),
      delivery_methods_supported: [PUSH_DELIVERY],
      ...(options.streamManagement
        ? {
            configuration_endpoint: at(STREAM_MANAGEMENT_PATHS.configuration),
            status_endpoint: at(STREAM_MANAGEMENT_PATHS.status),
            add_subject_endpoint: at(STREAM_MANAGEMENT_PATHS.addSubject),
            remove_subject_endpoint: at(STREAM_MANAGEMENT_PATHS.removeSubject),
            verification_endpoint: at(STREAM_MANAGEMENT_PATHS.verification),
            // Static bearer tokens a tenant configures for its receiver (RFC 6750), not OAuth-issued ones.
            authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
          }
        : {}),
      default_subjects: 'ALL',
    };
  };
  router.get(TRANSMITTER_JWKS_PATH, (ctx) => {
    // Short caching: a receiver sees a new key soon after it is added.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/jwk-set+json';
    ctx.body = options.keys.jwks();
  });
  const routes = router.routes() as unknown as Middleware;
  return async (ctx, next) => {
    await metadata(ctx, async () => {
      await routes(ctx, next);
    });
  };
}
