import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './gen/authz.js';

/** `proto/` at the project root (this file is `src/check/` or `dist/check/`). */
export const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let loaded: ProtoGrpcType | undefined;

/** The `ipsie.sidecar.v1` package, loaded once from the `.proto` files. */
export function authzProto(): ProtoGrpcType {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync('ipsie/sidecar/v1/authz.proto', LOADER_OPTIONS),
  ) as unknown as ProtoGrpcType;
  return loaded;
}
