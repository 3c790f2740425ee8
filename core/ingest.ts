import { DecodeError, decodeEvent, isTooFarAhead, MAX_MESSAGE_BYTES, validateEvent, type DeadLetterCode, type DecodeErrorCode } from './validate.js';
import { formatTime } from './time.js';
import { TierstreamError } from './errors.js';
import type { InteractionEvent } from './types.js';

/**
 * Ingestion over HTTP (docs/producing.md, "Over HTTP: what every route answers"): the ports the API publishes through and
 * reads dead letters from, and the per-event check it shares with the engine.
 */

/** What JetStream said of one published event: stored now, or a copy of one it already held (same Nats-Msg-Id). */
export type PublishOutcome = 'stored' | 'duplicate';

/** JetStream refused an event because the events stream is at its max_bytes (discard new): retry once ingest made room. */
export class StreamFullError extends TierstreamError<'stream_full'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('stream_full', message, options);
  }
}

/** Publishes events to the namespace's events stream; resolves once JetStream stored each. */
export interface EventSink {
  /**
   * `data` on `<ns>.events.<type>` with `Nats-Msg-Id: msgId`. Rejects with StreamFullError when
   * the stream is at its size limit; otherwise when JetStream did not answer or has no stream.
   */
  publish(type: string, data: Uint8Array, msgId: string): Promise<PublishOutcome>;
}

/** Why an event offered over HTTP is refused: a code of the validator, or time_in_future. */
export type IngestErrorCode = DecodeErrorCode | 'time_in_future';

export type Checked =
  | { ok: true; event: InteractionEvent; data: Uint8Array }
  | { ok: false; code: IngestErrorCode; message: string };

const encoder = new TextEncoder();

/**
 * Checks one event offered over HTTP exactly as the engine checks a NATS message: serialised
 * as JSON, decoded by the engine's own decodeEvent (size, fields, source, time, properties),
 * then refused `time_in_future` when more than `maxFutureMs` ahead of `nowMs` (the engine
 * judges by the time JetStream stored the message, about the same instant). The bytes are what
 * is published.
 */
export function checkEvent(raw: unknown, nowMs: number, maxFutureMs: number): Checked {
  let data: Uint8Array;
  try {
    data = encoder.encode(JSON.stringify(raw) ?? 'null');
  } catch (err) {
    return { ok: false, code: 'invalid_field', message: `not serialisable as JSON: ${(err as Error).message}` };
  }
  let event: InteractionEvent;
  try {
    // A flat plain object reads the same before and after a JSON round trip: its fields are
    // checked where they are, without decoding the bytes again (a third of the producer
    // library's CPU per event). test/unit/check-event.test.ts holds both ways equal.
    event = data.byteLength <= MAX_MESSAGE_BYTES && isFlat(raw) ? validateEvent(raw) : decodeEvent(data);
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
  if (isTooFarAhead(event.time, nowMs, maxFutureMs)) {
    return { ok: false, code: 'time_in_future', message: `time ${formatTime(event.time)} is more than ${maxFutureMs} ms ahead of now (${formatTime(nowMs)})` };
  }
  return { ok: true, event, data };
}

/**
 * A plain object (not a class instance: no toJSON, no prototype of its own) whose fields are
 * strings, numbers, booleans or null (an undefined field is left out of the JSON: not flat), and
 * no `properties` (kept as serialised): its
 * JSON text parses back to the same field values, but for numbers JSON cannot write (NaN,
 * Infinity: `null` there), which the validator refuses alike (a time must be an integer).
 */
function isFlat(raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object' || Object.getPrototypeOf(raw) !== Object.prototype) return false;
  const o = raw as Record<string, unknown>;
  for (const k in o) {
    if (k === 'properties' || k === 'toJSON') return false;
    const v = o[k];
    const t = typeof v;
    if (t !== 'string' && t !== 'number' && t !== 'boolean' && v !== null) return false;
  }
  return true;
}

/** One dead letter as the API shows it. */
export interface DeadLetter {
  /** Its sequence number in the dead-letter stream: the id to replay it by. */
  seq: number;
  code: DeadLetterCode | string;
  /** The subject the message was published on. */
  subject: string;
  /** When it was dead-lettered, epoch ms. */
  time: number;
  /** The reason in words (`Tierstream-Message`). */
  message: string;
  /** The payload's size in bytes, and its first bytes as text. */
  size: number;
  excerpt: string;
  /** When it was replayed (epoch ms), or null. */
  replayedAt: number | null;
}

export type ReplayOutcome =
  | { seq: number; result: 'replayed'; replayedAt: number }
  | { seq: number; result: 'already_replayed'; replayedAt: number }
  | { seq: number; result: 'not_found' }
  | { seq: number; result: 'not_an_event_subject'; subject: string };

/** The dead-letter stream, read and replayed. */
export interface DeadLetterStore {
  /** Letters from sequence `from` on (the first when absent), at most `limit`; `next` is the cursor of the next page, or null. */
  list(from: number | undefined, limit: number): Promise<{ items: DeadLetter[]; next: number | null }>;
  /** Republishes each letter to the subject it came from and marks it replayed; a letter replayed before is not sent again. */
  replay(seqs: readonly number[]): Promise<ReplayOutcome[]>;
  /** How many letters the stream holds and, of the newest `maxScan`, how many carry each code. */
  counts(maxScan: number): Promise<DeadLetterCounts>;
}

/** The dead-letter stream's size and its letters by code (DeadLetterStore.counts). */
export interface DeadLetterCounts {
  /** Letters in the stream. */
  total: number;
  /** Sequences of the oldest and newest letter; null when the stream is empty. */
  firstSeq: number | null;
  lastSeq: number | null;
  /** Letters read to count (the newest); fewer than `total` when it holds more than the scan's cap. */
  scanned: number;
  /** code -> letters among those read. */
  byCode: Record<string, number>;
}

/** Longest excerpt of a dead letter's payload, in characters. */
export const DEAD_LETTER_EXCERPT = 256;
