import type * as grpc from '@grpc/grpc-js';
import { authzProto, isExpectedError, jsonFromStruct, serviceErrorFrom } from '../check/index.js';
import type { ResourcesHandlers } from '../check/index.js';
import type { RelationData } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import { bearerToken } from '../bearer_token.js';
import type { ResourceWriter } from './resource_writer.js';
import { tenantKeyOf } from '../tenant_id.js';

export interface ResourceServiceOptions {
  readonly writer: ResourceWriter;
  readonly logger: Logger;
  /** Records each write (done or refused) in the tenant's audit trail, as the HTTP API does. */
  readonly audit?: (tenant: string, record: Record<string, unknown>) => Promise<void>;
}

/**
 * `ipsie.sidecar.v1.Resources` on the gateway: the HTTP resource API's writes over gRPC, the same checks,
 * bounds, credential (`authorization: Bearer <token>` metadata) and audit, answered with the stream sequence.
 * Errors are gRPC statuses with their `google.rpc.ErrorInfo` reason, as Check's are.
 */
export function resourceService(options: ResourceServiceOptions): {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: ResourcesHandlers;
} {
  const { writer, logger } = options;
  /** Authenticates the call, runs the write, audits it, and answers its sequence or its mapped error. */
  const unary =
    <T extends { tenant: string }>(
      method: string,
      write: (request: T) => Promise<number>,
    ): grpc.handleUnaryCall<T, { sequence: string }> =>
    (call, callback) => {
      // A sandbox by its name (acme.sandbox) or its key; anything else is refused by authorize.
      const tenant = tenantKeyOf(call.request.tenant) ?? call.request.tenant;
      const run = async (): Promise<number> => {
        writer.authorize(tenant, bearerToken(String(call.metadata.get('authorization')[0] ?? '')));
        return await write({ ...call.request, tenant });
      };
      void run().then(
        async (sequence) => {
          await options.audit?.(tenant, { method: `grpc:${method}`, status: 'OK', sequence });
          callback(null, { sequence: String(sequence) });
        },
        async (error: unknown) => {
          if (isExpectedError(error)) logger.debug({ err: error, method, tenant }, 'resource write refused');
          else logger.error({ err: error, method, tenant }, 'resource write failed');
          const failure = serviceErrorFrom(error);
          // Only a tenant whose credential was accepted gets a record: an unauthenticated call names no tenant.
          const code = (error as { code?: unknown }).code;
          if (code !== 'ERR_RESOURCE_UNAUTHORIZED') {
            await options.audit?.(tenant, { method: `grpc:${method}`, status: failure.code, code });
          }
          callback(failure);
        },
      );
    };
  const relationData = (request: {
    resource_type: string;
    resource_id: string;
    relation: string;
    subject_kind: string;
    subject_type: string;
    subject_id: string;
  }): RelationData =>
    ({
      resource_type: request.resource_type,
      resource_id: request.resource_id,
      relation: request.relation,
      subject_kind: request.subject_kind,
      subject_type: request.subject_type === '' ? null : request.subject_type,
      subject_id: request.subject_id,
    }) as RelationData;
  const implementation: ResourcesHandlers = {
    PutResource: unary(
      'PutResource',
      async (r) => await writer.put(r.tenant, r.type, r.id, jsonFromStruct(r.attributes)),
    ),
    DeleteResource: unary('DeleteResource', async (r) => await writer.delete(r.tenant, r.type, r.id)),
    AddRelation: unary(
      'AddRelation',
      async (r) => await writer.addRelation(r.tenant, writer.relation(r.tenant, relationData(r))),
    ),
    RemoveRelation: unary(
      'RemoveRelation',
      async (r) => await writer.removeRelation(r.tenant, writer.relation(r.tenant, relationData(r))),
    ),
  };
  return { definition: authzProto().ipsie.sidecar.v1.Resources.service, implementation };
}
