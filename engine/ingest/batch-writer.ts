import type { Logger } from 'pino';
import { TierstreamError, foldEvents, type Metrics, hotWritesInFlight, sourceName, type LookupPressure, type History, type HotIndex, type IngestErasures, type InteractionEvent, type SourceRef, type SourceRegistry } from '../../core/index.js';
import type { Decoded } from './operators/decode.js';
import type { SourceLimits } from './source-limits.js';
import type { IngestBroker } from './types.js';

export interface BatchWriterDeps {
  history: History;
  hot: HotIndex;
  registry: SourceRegistry;
  /** Where dead letters go. */
  broker: Pick<IngestBroker, 'deadLetter'>;
  metrics: Metrics;
  log: Logger;
  /** Lookups queueing: the hot write then sends one script call at a time. */
  pressure?: LookupPressure;
  /**
   * The erasures (core/erasure.ts): at every write attempt an event of an erased user's past
   * (by the stream's time) is acknowledged and written nowhere; once the attempt's writes
   * landed, an erasure it raced (heard of after the check) is run again.
   */
  erasures?: IngestErasures;
  /** The named limits checked before writing (engine/ingest/source-limits.ts); absent: none. */
  limits?: SourceLimits;
  /** A fault point (tests): see EngineOptions.afterErasureCheck. */
  afterErasureCheck?: (events: readonly InteractionEvent[]) => Promise<void>;
}

/**
 * The history insert refused the batch. The only failure that may be the data's fault: a
 * registry, hot-index or dead-letter failure is the store's, and is retried without limit
 * (terminating an event whose hot write failed would ack it without its hot effect).
 */
export class HistoryWriteError extends TierstreamError<'history_write_failed'> {
  constructor(cause: unknown) {
    super('history_write_failed', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** A valid event dead-lettered because history refused it alone, repeatedly, while the stores answered. */
export class WriteFailedError extends TierstreamError<'write_failed'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('write_failed', message, options);
  }
}

/**
 * Makes one batch durable: good events into history, then (for sources whose tier gate is
 * open) the hot index; bad messages into the dead-letter stream. Resolves only when all of it is stored; the
 * caller acknowledges afterwards. Every step is idempotent, so a retry or redelivery of the
 * same batch changes nothing.
 */
export function createBatchWriter(deps: BatchWriterDeps) {
  return async function writeBatch(batch: Decoded[]): Promise<void> {
    let events: InteractionEvent[] = [];
    let at: number[] = [];
    const bad: Rejected[] = [];
    const erasures = deps.erasures;
    const mark = erasures?.mark();
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i]!;
      if (d.error) {
        bad.push(d);
      } else if (!erasures?.erased(d.event.userId, d.msg.info.timestampNanos / 1e6)) {
        events.push(d.event);
        at.push(i);
      }
    }
    if (deps.limits && events.length) {
      // An event past a limit becomes a dead letter in the batch itself (the array is the
      // caller's), so a retry of the batch or its settling sees it as one.
      const refused = await deps.limits.check(events);
      if (refused.some((r) => r !== undefined)) {
        const keep: number[] = [];
        for (let j = 0; j < at.length; j++) {
          const error = refused[j];
          if (!error) keep.push(j);
          else bad.push((batch[at[j]!] = { msg: batch[at[j]!]!.msg, error }));
        }
        events = keep.map((j) => events[j]!);
        at = keep.map((j) => at[j]!);
      }
    }
    await deps.afterErasureCheck?.(events);
    const sources = new Map<string, SourceRef>();
    for (const e of events) sources.set(sourceName(e.source), e.source);
    // While lookups queue, a batch waits (at most YIELD_MAX_MS) before it writes: ingest gives
    // the machine back to the API, and still drains (at worst a batch per second per writer).
    if (deps.pressure?.pressed()) await yieldWhilePressed(deps.pressure);
    await deps.registry.ensure([...sources.values()]);
    // History strictly before the hot write: a source's tier gate is checked by the hot write,
    // so if it found the source not hot, these events were already durable before any restore
    // could start reading history, and that restore includes them. In parallel, a restore
    // could read history before our insert landed and we would then skip the hot write.
    // The registry is ensured again after the insert: a source deleted (DELETE, no events yet)
    // while this batch was written comes back with its events (a map lookup when it is known).
    const writes = Promise.all([
      deps.history.insert(events).then(
        () => deps.hot.apply(foldEvents(events, { marks: deps.hot.countHorizonMs > 0 }), { maxInFlight: hotWritesInFlight(deps.pressure) }),
        (err: unknown) => Promise.reject(new HistoryWriteError(err)),
      ).then(() => deps.registry.ensure([...sources.values()])),
      Promise.all(bad.map((d) => deadLetter(deps, d))),
    ]);
    if (!erasures || mark === undefined || events.length === 0) return void (await writes);
    // An erasure requested after the check, or one this process had not heard of at it, may
    // have run before these writes landed: it is run again (docs/operating.md, "Erasure"). Asked also when
    // the attempt failed, as some of it may have landed; the batch is acknowledged only after.
    const written = function* () {
      for (let j = 0; j < events.length; j++) yield [events[j]!.userId, batch[at[j]!]!.msg.info.timestampNanos / 1e6] as const;
    };
    try {
      await writes;
    } catch (err) {
      await erasures.landed(mark, written).catch((e: unknown) => deps.log.warn({ err: e }, 'erasures not checked after a failed write attempt'));
      throw err;
    }
    await erasures.landed(mark, written);
  };
}

type Rejected = Extract<Decoded, { error: object }>;

/** Longest a batch waits for lookups to stop queueing before it writes anyway, ms. */
export const YIELD_MAX_MS = 1_000;

async function yieldWhilePressed(pressure: LookupPressure): Promise<void> {
  const until = performance.now() + YIELD_MAX_MS;
  while (pressure.pressed() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
}

function deadLetter(deps: BatchWriterDeps, d: Rejected): Promise<void> {
  return deps.broker.deadLetter({ seq: d.msg.seq, subject: d.msg.subject, data: d.msg.data, code: d.error.code, message: d.error.message });
}
