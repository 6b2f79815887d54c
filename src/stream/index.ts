export { connectNats } from './nats_connection.js';
export type { NatsConnection, NatsConnectionOptions } from './nats_connection.js';
export { ensureStateStream, stateStreamConfig } from './state_stream.js';
export type { StateStreamOptions } from './state_stream.js';
export { ChangePublisher } from './change_publisher.js';
export type { ChangeSink, PublishedChange, PublishOptions } from './change_publisher.js';
export { ChangePublishError, SequenceConflictError, StreamConfigConflictError } from './errors.js';
