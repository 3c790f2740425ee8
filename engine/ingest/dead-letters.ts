import { type JetStreamClient, type JetStreamManager, type JsMsg, type KV, type StoredMsg } from 'nats';
import { DEAD_LETTER_EXCERPT, type DeadLetter, type DeadLetterStore, type ReplayOutcome } from '../../core/index.js';
import { DLQ_LIMITS } from './jetstream.js';
import { bucketNames, natsNames } from '../../storage/nats/names.js';
import { isJsNotFound } from '../../storage/nats/errors.js';

/** The KV bucket that marks replayed letters, by the letter's sequence: `<ns>_dlq_replayed`. */
export const replayedBucket = (namespace: string) => bucketNames(namespace).dlqReplayed;

const lenient = new TextDecoder('utf-8'); // an excerpt may cut a character, or hold invalid bytes

/**
 * The API's DeadLetterStore (core/ingest.ts) on JetStream: letters read from `<NS>_DLQ` by an
 * ordered consumer from a sequence on; a replay republishes the payload to the subject it was
 * first published on (`Tierstream-Subject`, which must be the namespace's events subject) with
 * the message id `replay:<NS>_DLQ:<seq>`, then marks the letter in `<ns>_dlq_replayed`. A
 * letter still bad after a replay becomes a new letter.
 */
export function createDeadLetterStore(js: JetStreamClient, jsm: JetStreamManager, namespace: string, replicas = 1): DeadLetterStore {
  const n = natsNames(namespace);
  let kv: Promise<KV> | undefined;
  const marks = () => (kv ??= js.views.kv(replayedBucket(namespace), { history: 1, ttl: DLQ_LIMITS.maxAgeMs, replicas }).catch((err: unknown) => {
    kv = undefined;
    throw err;
  }));
  const replayedAt = async (seq: number): Promise<number | null> => {
    const e = await (await marks()).get(String(seq));
    return e && e.operation === 'PUT' && e.value.length ? (JSON.parse(e.string()) as { at: number }).at : null;
  };
  const view = (seq: number, headers: JsMsg['headers'], data: Uint8Array, timeNanos: number): Omit<DeadLetter, 'replayedAt'> => ({
    seq,
    code: headers?.get('Tierstream-Error') ?? '',
    subject: headers?.get('Tierstream-Subject') ?? '',
    message: headers?.get('Tierstream-Message') ?? '',
    time: Math.floor(timeNanos / 1e6),
    size: data.byteLength,
    excerpt: lenient.decode(data.subarray(0, DEAD_LETTER_EXCERPT * 4)).slice(0, DEAD_LETTER_EXCERPT),
  });

  const streamInfo = () => jsm.streams.info(n.dlqStream).catch((err: unknown) => {
    if (isJsNotFound(err)) return undefined;
    throw err;
  });

  return {
    async list(from, limit) {
      const info = await streamInfo();
      if (!info || info.state.messages === 0) return { items: [], next: null };
      const last = info.state.last_seq;
      const start = Math.max(from ?? 0, info.state.first_seq);
      if (start > last) return { items: [], next: null };
      const consumer = await js.consumers.get(n.dlqStream, { opt_start_seq: start });
      const letters: Omit<DeadLetter, 'replayedAt'>[] = [];
      const msgs = await consumer.fetch({ max_messages: limit, expires: 2_000 });
      for await (const m of msgs) {
        letters.push(view(m.seq, m.headers, m.data, m.info.timestampNanos));
        if (m.seq >= last || letters.length >= limit) break;
      }
      const items = await Promise.all(letters.map(async (l) => ({ ...l, replayedAt: await replayedAt(l.seq) })));
      const seen = letters.at(-1)?.seq ?? last;
      return { items, next: seen < last ? seen + 1 : null };
    },

    async counts(maxScan) {
      const info = await streamInfo();
      if (!info || info.state.messages === 0) return { total: 0, firstSeq: null, lastSeq: null, scanned: 0, byCode: {} };
      const { first_seq: first, last_seq: last, messages } = info.state;
      const start = Math.max(first, last - maxScan + 1);
      // Headers only: the code is a header, and a payload may be up to the stream's message size.
      const consumer = await js.consumers.get(n.dlqStream, { opt_start_seq: start, headers_only: true });
      const byCode: Record<string, number> = {};
      let scanned = 0;
      while (scanned < maxScan) {
        const msgs = await consumer.fetch({ max_messages: Math.min(1_000, maxScan - scanned), expires: 2_000 });
        let seen = 0;
        let end = false;
        for await (const m of msgs) {
          seen++;
          scanned++;
          const code = m.headers?.get('Tierstream-Error') || 'unknown';
          byCode[code] = (byCode[code] ?? 0) + 1;
          if (m.seq >= last) {
            end = true;
            break;
          }
        }
        if (end || seen === 0) break;
      }
      return { total: messages, firstSeq: first, lastSeq: last, scanned, byCode };
    },

    async replay(seqs) {
      const out: ReplayOutcome[] = [];
      for (const seq of seqs) {
        const at = await replayedAt(seq);
        if (at !== null) {
          out.push({ seq, result: 'already_replayed', replayedAt: at });
          continue;
        }
        let msg: StoredMsg;
        try {
          msg = await jsm.streams.getMessage(n.dlqStream, { seq });
        } catch (err) {
          if (isJsNotFound(err)) {
            out.push({ seq, result: 'not_found' });
            continue;
          }
          throw err;
        }
        const subject = msg.header.get('Tierstream-Subject');
        if (!subject.startsWith(n.subjectPrefix)) {
          out.push({ seq, result: 'not_an_event_subject', subject });
          continue;
        }
        await js.publish(subject, msg.data, { msgID: `replay:${n.dlqStream}:${seq}` });
        const now = Date.now();
        await (await marks()).put(String(seq), JSON.stringify({ at: now }));
        out.push({ seq, result: 'replayed', replayedAt: now });
      }
      return out;
    },
  };
}
