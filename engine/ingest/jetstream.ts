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
export const STREAM_DEFAULTS = { dedupWindowMs: 120_000, maxAgeMs: 7 * 24 * 3_600_000, maxBytes: 4 * 1024 ** 3 } as const;

/** What the events and dead-letter streams are made of. */
export interface EventStreamOptions {
  namespace: string;
  /** Window in which a repeated Nats-Msg-Id is dropped by the server, ms. */
  dedupWindowMs: number;
  /** How long events stay in the stream after being written, ms (history is ClickHouse). */
  maxAgeMs: number;
  /**
   * Most bytes the events stream holds (TIERSTREAM_EVENTS_MAX_BYTES, default 4 GiB; -1:
   * unbounded). Discard new: at the limit a publish is refused (`maximum bytes exceeded`),
   * never an older event dropped; ingest trims events it acknowledged (trimIngested) to keep room.
   */
  maxBytes?: number;
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
 * The dead-letter stream's bounds (docs/producing.md, "Dead letters"): 30 days, 1 GiB, a million letters;
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
  // Both streams: on disk, kept by limits, deduplicated by message id, replicated alike.
  const both: Partial<StreamConfig> = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(opts.dedupWindowMs),
    num_replicas: opts.replicas ?? 1,
  };
  const events: Partial<StreamConfig> = {
    ...both,
    name: n.stream,
    subjects: [n.subjects],
    max_age: nanos(opts.maxAgeMs),
    ...eventsBound(opts.maxBytes ?? STREAM_DEFAULTS.maxBytes, serverVersion(jsm)),
    discard: DiscardPolicy.New,
  };
  const dlq: Partial<StreamConfig> = {
    ...both,
    name: n.dlqStream,
    subjects: [n.dlqSubject],
    max_age: nanos(DLQ_LIMITS.maxAgeMs),
    max_bytes: DLQ_LIMITS.maxBytes,
    max_msgs: DLQ_LIMITS.maxMsgs,
    discard: DiscardPolicy.Old,
  };
  for (const cfg of [events, dlq]) await upsertStream(jsm, cfg, update);
}

/**
 * Bytes of `maxBytes` per event in the bound counted in events (older servers, below): about
 * what an event of a few ids and no properties takes in the stream (measured 210 B with its
 * subject, headers and record; test/integration/stream-limits.test.ts prints it).
 */
export const BYTES_PER_EVENT_BOUND = 256;

/** The first nats-server whose discard-new byte limit never drops stored messages (nats-server#4771, fixed by #4772 in 2.10.5). */
const EXACT_BYTE_LIMIT = [2, 10, 5] as const;

/** Whether `version` (`2.9.10`) refuses at max_bytes without dropping old messages; unknown versions are taken as fixed. */
export function exactByteLimit(version: string | undefined): boolean {
  const v = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!v) return true;
  for (let i = 0; i < 3; i++) {
    const d = Number(v[i + 1]) - EXACT_BYTE_LIMIT[i]!;
    if (d !== 0) return d > 0;
  }
  return true;
}

/**
 * The events stream's bound: `max_bytes` on a server whose discard-new byte check is exact.
 * Older servers (before 2.10.5) check a new message without its subject and record overhead,
 * then drop the *oldest* messages to get under max_bytes (nats-server#4771): silent loss of
 * events not ingested yet. There the bound is counted in events instead (max_msgs, checked
 * exactly), one per BYTES_PER_EVENT_BOUND bytes, and max_bytes is left unbounded.
 */
export function eventsBound(maxBytes: number, version: string | undefined): { max_bytes: number; max_msgs: number } {
  if (maxBytes <= 0) return { max_bytes: -1, max_msgs: -1 };
  return exactByteLimit(version) ? { max_bytes: maxBytes, max_msgs: -1 } : { max_bytes: -1, max_msgs: Math.max(1, Math.floor(maxBytes / BYTES_PER_EVENT_BOUND)) };
}

/** The server's version as the connection under `jsm` saw it (nats.js keeps it on the manager's connection). */
function serverVersion(jsm: JetStreamManager): string | undefined {
  return (jsm as unknown as { nc?: { info?: { version?: string } } }).nc?.info?.version;
}

/** Whether a publish failed because the stream is at its max_bytes or max_msgs (discard new). */
export function isStreamFullError(err: unknown): boolean {
  // js.publish's error says only "503"; JetStream's description is in its api_error.
  const e = err as { message?: unknown; api_error?: { description?: unknown } } | undefined;
  return /maximum (bytes|messages)( per subject)? exceeded|resource limits exceeded/i.test(`${String(e?.api_error?.description ?? '')} ${String(e?.message ?? err)}`);
}

/** What the events stream holds, and how much of it ingest has not acknowledged yet. */
export interface EventsBacklog {
  /** Messages not acknowledged by the engine consumer: not delivered yet, or delivered and not settled. */
  messages: number;
  /** Bytes the stream holds (ingested or not), and its max_bytes (-1: unbounded). */
  bytes: number;
  maxBytes: number;
  /** Messages the stream holds, and its max_msgs (-1: unbounded; the bound on servers before 2.10.5, see eventsBound). */
  stored: number;
  maxMessages: number;
}

/** How full a stream is against its bound, 0..1 (0 when unbounded). */
export function fill(b: Pick<EventsBacklog, 'bytes' | 'maxBytes' | 'stored' | 'maxMessages'>): number {
  return Math.max(b.maxBytes > 0 ? b.bytes / b.maxBytes : 0, b.maxMessages > 0 ? b.stored / b.maxMessages : 0);
}

export async function eventsBacklog(jsm: JetStreamManager, namespace: string): Promise<EventsBacklog> {
  const n = natsNames(namespace);
  const [stream, consumer] = await Promise.all([jsm.streams.info(n.stream), jsm.consumers.info(n.stream, n.consumer)]);
  return {
    messages: consumer.num_pending + consumer.num_ack_pending,
    bytes: stream.state.bytes, maxBytes: stream.config.max_bytes,
    stored: stream.state.messages, maxMessages: stream.config.max_msgs,
  };
}

/**
 * The readiness check of the backlog (/readyz `ingest_backlog`): what is wrong, or null. Not
 * ready when the events stream is full (publishes refused) or holds more than `maxMessages`
 * events ingest has not acknowledged (0: never). Null while there is no stream or consumer yet
 * (no engine has started): nothing to say about a backlog.
 */
export async function backlogProblem(jsm: JetStreamManager, namespace: string, maxMessages: number): Promise<string | null> {
  let b: EventsBacklog;
  try {
    b = await eventsBacklog(jsm, namespace);
  } catch (err) {
    if (isJsNotFound(err)) return null;
    throw err;
  }
  if (fill(b) >= 1) {
    const of = b.maxBytes > 0 ? `${b.bytes} of ${b.maxBytes} bytes` : `${b.stored} of ${b.maxMessages} events`;
    return `events stream full (${of}, ${b.messages} events not ingested yet): publishes are refused (stream_full)`;
  }
  if (maxMessages > 0 && b.messages > maxMessages) return `${b.messages} events not ingested yet, more than ${maxMessages} (TIERSTREAM_BACKLOG_MAX)`;
  return null;
}

/** Above this share of its bound (fill), ingest trims events it acknowledged ... */
export const TRIM_ABOVE = 0.9;
/** ... down to this share. */
export const TRIM_TO = 0.75;

/**
 * Keeps room in a bounded events stream: when it holds more than TRIM_ABOVE of its bound,
 * removes its oldest messages, down to about TRIM_TO, but only messages below the engine
 * consumer's ack floor (in history already). So the stream keeps up to `max_age` of events for
 * replays while there is room, and a publish is refused only when events not yet ingested fill
 * it. Returns the messages removed.
 */
export async function trimIngested(jsm: JetStreamManager, namespace: string): Promise<number> {
  const n = natsNames(namespace);
  const stream = await jsm.streams.info(n.stream);
  const { bytes, messages, first_seq: first } = stream.state;
  const full = fill({ bytes, maxBytes: stream.config.max_bytes, stored: messages, maxMessages: stream.config.max_msgs });
  if (messages === 0 || full <= TRIM_ABOVE) return 0;
  const consumer = await jsm.consumers.info(n.stream, n.consumer);
  // The oldest messages whose removal brings the fill to TRIM_TO, if all are ingested.
  const upTo = Math.min(first + Math.ceil(messages * (1 - TRIM_TO / full)), consumer.ack_floor.stream_seq + 1);
  if (upTo <= first) return 0;
  return (await jsm.streams.purge(n.stream, { seq: upTo })).purged;
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
    if (bounds.discard === DiscardPolicy.New) {
      // A bound below what the stream holds would make the server drop its oldest messages
      // (nats-server#2589), events perhaps not ingested yet: never below that; ingest trims
      // what it acknowledged (trimIngested), and a later start lowers it.
      const atLeast = (bound: number, held: number) => (bound > 0 && held > bound ? held : bound);
      bounds.max_bytes = atLeast(bounds.max_bytes, info.state.bytes);
      bounds.max_msgs = atLeast(bounds.max_msgs, info.state.messages);
    }
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
