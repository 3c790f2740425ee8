/** The ingest engine: JetStream in, batches written to history and the hot index, acks out. */
export { createEngine, ENGINE_DEFAULTS, type Engine, type EngineDeps, type EngineOptions } from './engine.js';
export { createJetStreamBroker } from './jetstream-broker.js';
export type { IngestBroker, IngestMsg, BrokerSetup, BrokerBacklog, BrokerSubscription, DeadLetterOut } from './types.js';
export { ensureStreams, deleteStreams, consumerAckPolicy, isTransientNatsError } from './jetstream.js';
export { createEventSink } from './event-sink.js';
export { createDeadLetterStore, replayedBucket } from './dead-letters.js';
export { DLQ_LIMITS, STREAM_DEFAULTS, backlogProblem, eventsBacklog, isStreamFullError, trimIngested, type EventsBacklog } from './jetstream.js';
export type { LeaseDoc } from './ack-lease.js';
export type { AckMode } from './acks.js';
export { startCountAudit, COUNT_AUDIT_INTERVAL_MS, type CountAuditOptions } from './count-audit.js';
