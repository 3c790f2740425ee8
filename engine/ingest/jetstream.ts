import {
  AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType,
  type JetStreamManager, type ConsumerConfig, type StreamConfig,
} from 'nats';
import { bucketNames, kvStream, natsNames, noticeNames } from '../../storage/nats/names.js';
import { isJsAlreadyExists, isJsNotFound } from '../../storage/nats/errors.js';

export { isTransientNatsError } from '../../storage/nats/errors.js';

/**
 * The events stream's settings when nothing says otherwise: the engine's (engine.ts,
 * ENGINE_DEFAULTS) and the producer library's (producer/), which creates the streams alike.
 */
export const STREAM_DEFAULTS = { dedupWindowMs: 120_000, maxAgeMs: 7 * 24 * 3_600_000 } as const;

/** What the events and dead-letter streams are made of. */
export interface EventStreamOptions {
  namespace: string;
  /** Window in which a repeated Nats-Msg-Id is dropped by the server, ms. */
  dedupWindowMs: number;
  /** How long events stay in the stream after being written, ms (history is ClickHouse). */
  maxAgeMs: number;
  /** Replicas of the streams (and so of the consumer) on a NATS cluster (default 1). */
  replicas?: number;
}

export interface StreamSetupOptions extends EventStreamOptions {
  ackWaitMs: number;
  maxAckPending: number;
  /** The consumer's ack policy when this call creates it (default explicit); an existing one keeps its own (see replaceConsumer). */
  ackPolicy?: AckPolicy.Explicit | AckPolicy.All;
}

const nanos = (ms: number) => ms * 1_000_000;

/**
 * The dead-letter stream's bounds (README, "Dead letters"): 30 days, 1 GiB, a million letters;
 * past any of them the oldest letters are dropped first (discard old), so a flood of bad
 * messages never blocks dead-lettering nor fills the disk.
 */
export const DLQ_LIMITS = { maxAgeMs: 30 * 24 * 3_600_000, maxBytes: 1024 * 1_048_576, maxMsgs: 1_000_000 } as const;

/**
 * Creates or updates the events stream, the dead-letter stream and the durable engine
 * consumer. Safe to run from several processes at once.
 */
export async function ensureStreams(jsm: JetStreamManager, opts: StreamSetupOptions): Promise<void> {
  await ensureEventStreams(jsm, opts);
  const n = natsNames(opts.namespace);
  const consumer: Partial<ConsumerConfig> = {
    durable_name: n.consumer,
    ack_policy: opts.ackPolicy ?? AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.ackWaitMs),
    max_ack_pending: opts.maxAckPending,
    max_waiting: 512,
  };
  try {
    const info = await jsm.consumers.info(n.stream, n.consumer);
    if (info.config.ack_wait !== consumer.ack_wait || info.config.max_ack_pending !== consumer.max_ack_pending) {
      await jsm.consumers.update(n.stream, n.consumer, { ack_wait: consumer.ack_wait, max_ack_pending: consumer.max_ack_pending });
    }
  } catch (err) {
    if (!isJsNotFound(err)) throw err;
    try {
      await jsm.consumers.add(n.stream, consumer);
    } catch (e) {
      // Another process created it meanwhile (perhaps with the other ack policy): theirs stands.
      if (!isJsAlreadyExists(e)) throw e;
    }
  }
}

/**
 * Creates the events stream and the dead-letter stream when missing. With `update` (the
 * engine's start), an existing stream whose settings differ is brought to these; without (a
 * producer, producer/), an existing stream is left as the engine made it.
 */
export async function ensureEventStreams(jsm: JetStreamManager, opts: EventStreamOptions, update = true): Promise<void> {
  const n = natsNames(opts.namespace);
  const events: Partial<StreamConfig> = {
    name: n.stream,
    subjects: [n.subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(opts.dedupWindowMs),
    max_age: nanos(opts.maxAgeMs),
    num_replicas: opts.replicas ?? 1,
  };
  const dlq: Partial<StreamConfig> = {
    name: n.dlqStream,
    subjects: [n.dlqSubject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(opts.dedupWindowMs),
    max_age: nanos(DLQ_LIMITS.maxAgeMs),
    max_bytes: DLQ_LIMITS.maxBytes,
    max_msgs: DLQ_LIMITS.maxMsgs,
    discard: DiscardPolicy.Old,
    num_replicas: opts.replicas ?? 1,
  };
  for (const cfg of [events, dlq]) await upsertStream(jsm, cfg, update);
}

/** The durable engine consumer's ack policy. */
export async function consumerAckPolicy(jsm: JetStreamManager, namespace: string): Promise<AckPolicy> {
  const n = natsNames(namespace);
  return (await jsm.consumers.info(n.stream, n.consumer)).config.ack_policy;
}

/**
 * Replaces the durable engine consumer by one with `policy` that delivers from the old one's
 * ack floor on: messages delivered and not acknowledged are delivered again (duplicates, which
 * history and the hot index absorb), none is skipped. Used to switch the ack policy, and when
 * a process takes over an `AckPolicy.All` consumer whose last holder left messages
 * unacknowledged (`force`): its own cumulative acks would otherwise cover them before the
 * server redelivers them. Only for a process that consumes alone (the exclusive ingest lease);
 * deleting the consumer also fences a predecessor's late acks (they went to the old consumer).
 */
export async function replaceConsumer(jsm: JetStreamManager, opts: StreamSetupOptions, policy: AckPolicy.Explicit | AckPolicy.All, force = false): Promise<{ fromSeq: number; replaced: boolean }> {
  const n = natsNames(opts.namespace);
  const info = await jsm.consumers.info(n.stream, n.consumer);
  const fromSeq = info.ack_floor.stream_seq + 1;
  if (info.config.ack_policy === policy && !force) return { fromSeq, replaced: false };
  await jsm.consumers.delete(n.stream, n.consumer);
  await jsm.consumers.add(n.stream, {
    ...info.config,
    ack_policy: policy,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
  });
  return { fromSeq, replaced: true };
}

/** Messages delivered by the engine consumer and not acknowledged (by whoever took them). */
export async function unacknowledged(jsm: JetStreamManager, namespace: string): Promise<number> {
  const n = natsNames(namespace);
  const info = await jsm.consumers.info(n.stream, n.consumer);
  return Math.max(info.num_ack_pending, info.delivered.stream_seq - info.ack_floor.stream_seq);
}


async function upsertStream(jsm: JetStreamManager, cfg: Partial<StreamConfig>, update: boolean): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name!);
    if (!update) return;
    // Bounds absent from `cfg` are unlimited (-1), so an older stream gains them at the next start.
    const bounds = { max_bytes: cfg.max_bytes ?? -1, max_msgs: cfg.max_msgs ?? -1, discard: cfg.discard ?? DiscardPolicy.Old };
    if (info.config.duplicate_window !== cfg.duplicate_window || info.config.max_age !== cfg.max_age || info.config.num_replicas !== cfg.num_replicas
      || info.config.max_bytes !== bounds.max_bytes || info.config.max_msgs !== bounds.max_msgs || info.config.discard !== bounds.discard) {
      await jsm.streams.update(cfg.name!, { ...info.config, ...bounds, duplicate_window: cfg.duplicate_window, max_age: cfg.max_age, num_replicas: cfg.num_replicas });
    }
  } catch (err) {
    if (!isJsNotFound(err)) throw err;
    try {
      await jsm.streams.add(cfg);
    } catch (e) {
      // Another process created it between our info and add.
      if (!isJsAlreadyExists(e)) throw e;
    }
  }
}


/** Deletes the namespace's streams (tests and benchmarks only). */
export async function deleteStreams(jsm: JetStreamManager, namespace: string): Promise<void> {
  const n = natsNames(namespace);
  // With the tier notices' stream (storage/nats/notices.ts), which the namespace owns too.
  for (const s of [n.stream, n.dlqStream, noticeNames(namespace).stream, kvStream(bucketNames(namespace).dlqReplayed)]) await jsm.streams.delete(s).catch(() => false);
}
