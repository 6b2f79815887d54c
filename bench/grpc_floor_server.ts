/**
 * The gRPC floor for bench/check.ts: the same Authorization service with a
 * handler that does no work, so the bench can show what grpc-js itself costs
 * on this machine next to what a real Check costs.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const socket = process.argv[2];
if (socket === undefined) throw new Error('usage: grpc_floor_server.ts <socket path>');
const definition = protoLoader.loadSync('ipsie/sidecar/v1/authz.proto', {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [new URL('../proto/', import.meta.url).pathname],
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  ipsie: { sidecar: { v1: { Authorization: { service: grpc.ServiceDefinition } } } };
};
const answer = {
  decision: 'DECISION_ALLOW',
  reasons: [{ code: 'POLICY_ALLOWED', message: 'the tenant policy allows this request' }],
  decision_id: '00000000-0000-4000-8000-000000000000',
  policy_version: 'sha256:0000000000000000',
  sequence: '0',
};
const server = new grpc.Server();
server.addService(loaded.ipsie.sidecar.v1.Authorization.service, {
  Check: (_call: unknown, callback: grpc.sendUnaryData<typeof answer>) => {
    callback(null, answer);
  },
  BatchCheck: (_call: unknown, callback: grpc.sendUnaryData<object>) => {
    callback(null, {});
  },
});
server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error !== null) throw error;
});
process.once('SIGTERM', () => {
  server.forceShutdown();
});
