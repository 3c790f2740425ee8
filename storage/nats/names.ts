/**
 * Every name a namespace owns on NATS (docs/deployment.md, "What the namespace owns"), built here only:
 * streams, the engine's durable consumer, subjects, control subjects (core NATS, no stream)
 * and KV buckets. The code and the tests take them from here.
 *
 * Imports nothing: the ingest service (engine/ingest/), which speaks JetStream itself, takes
 * this one file of storage/nats/ (.dependency-cruiser.cjs, nats-names-are-a-leaf).
 */
export function natsNames(namespace: string) {
  return {
    stream: `${namespace.toUpperCase()}_EVENTS`,
    subjects: `${namespace}.events.>`,
    subjectPrefix: `${namespace}.events.`,
    dlqStream: `${namespace.toUpperCase()}_DLQ`,
    dlqSubject: `${namespace}.dlq`,
    consumer: `${namespace}_engine`,
    /** Core NATS (no stream): API processes say here that lookups queue; ingest yields. */
    pressureSubject: `${namespace}.control.pressure`,
    /** Core NATS (no stream): each ingest lease holder answers on a subject of its own, so "no responders" means it is gone. */
    holderSubject: (holderId: string) => `${namespace}.control.ingest.${Buffer.from(holderId, 'utf8').toString('hex')}`,
  };
}

/** Names the namespace owns for tier notifications. */
export function noticeNames(namespace: string) {
  return {
    stream: `${namespace.toUpperCase()}_TIERS`,
    subjects: `${namespace}.tiers.>`,
    subject: (kind: string, id: string) => `${namespace}.tiers.${kind}.${id}`,
    webhookConsumer: `${namespace}_webhook`,
  };
}

/** The namespace's KV buckets. */
export function bucketNames(namespace: string) {
  return {
    /** The source registry (nats-kv.ts). */
    sources: `${namespace}_sources`,
    /** Each source's variant and step ids (source-ids.ts). */
    sourceIds: `${namespace}_source_ids`,
    /** Registered filters (engine/filters/). */
    filters: `${namespace}_filters`,
    /** Erasure documents (engine/erasures/). */
    erasures: `${namespace}_erasures`,
    /** The ingest lease: who consumes, and how (engine/ingest/ack-lease.ts). */
    ingest: `${namespace}_ingest`,
    /** Replayed dead letters, by the letter's sequence (engine/ingest/dead-letters.ts). */
    dlqReplayed: `${namespace}_dlq_replayed`,
  };
}

/** The stream that backs a KV bucket. */
export const kvStream = (bucket: string) => `KV_${bucket}`;
