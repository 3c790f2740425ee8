import type { Logger } from 'pino';
import { pendingNotices, sourceName, UnpublishableNoticeError, webhookSignature, withNoticeMark, type SourceRecord, type SourceRegistry } from '../../core/index.js';

/**
 * Most of a webhook answer read, in bytes: enough for a receiver's error message in the log.
 * The rest is not read (the connection is closed): a receiver answering a huge body once took
 * the ingest process from 101 MB to 2.5 GB.
 */
export const MAX_ANSWER_BYTES = 4_096;

/** The first `limit` bytes of `body` as text; the stream is cancelled there, never read further. */
async function readAtMost(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) return Buffer.concat(parts, size).toString('utf8');
      parts.push(value);
      size += value.byteLength;
    }
    await reader.cancel();
    return Buffer.concat(parts, size).subarray(0, limit).toString('utf8');
  } finally {
    reader.releaseLock();
  }
}

/** Where notices go (storage/nats/notices.ts on NATS). */
export interface NoticeChannel {
  /** Throws UnpublishableNoticeError for a notice that can never be published (not retried). */
  publish(kind: string, id: string, body: string, msgId: string): Promise<void>;
  consume(deliver: (body: Uint8Array) => Promise<boolean>, opts: { signal: AbortSignal; retryDelayMs: (attempt: number) => number; ackWaitMs: number }): Promise<void>;
}

export interface NotifierOptions {
  /** TIERSTREAM_WEBHOOK_URL and TIERSTREAM_WEBHOOK_SECRET: deliveries are made by this process when set. */
  webhook?: { url: string; secret: string };
  /** Longest a delivery may take, from the request to the end of the answer's body, ms (default 10_000). */
  webhookTimeoutMs?: number;
  /** Backoff of a failed publish (NATS away) or delivery: min(base * 2^(n-1), max) ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/**
 * Publishes every tier transition as a notice (core/tiers/notices.ts). Every process that
 * runs the tier manager watches the registry mirror and publishes the notices a record has
 * not had yet, one source at a time in transition order, then marks them published in the
 * record (compare-and-set). A transition is never held up: it is already stored when its
 * notice goes out. With a webhook, this process also delivers notices from the stream.
 */
export function createNotifier(deps: { registry: SourceRegistry; channel: NoticeChannel; log: Logger }, opts: NotifierOptions = {}) {
  const log = deps.log.child({ module: 'tiers.notices' });
  const base = opts.backoffBaseMs ?? 200;
  const max = opts.backoffMaxMs ?? 30_000;
  const backoff = (attempt: number) => Math.min(base * 2 ** Math.max(0, attempt - 1), max);
  const stopping = new AbortController();
  /** Per source: the run publishing its notices, if one is under way. */
  const runs = new Map<string, Promise<void>>();
  const idle = new Set<() => void>();
  let delivering: Promise<void> | undefined;

  async function publishPending(name: string, rec: SourceRecord): Promise<void> {
    for (const p of pendingNotices(rec)) {
      for (let attempt = 1; ; attempt++) {
        if (stopping.signal.aborted) return;
        try {
          await deps.channel.publish(rec.kind, rec.id, JSON.stringify(p.notice), p.msgId);
          break;
        } catch (err) {
          if (err instanceof UnpublishableNoticeError) {
            // Never publishable: marked as if published, so no process retries it for ever.
            log.error({ err, source: name, notice: p.notice }, 'tier notice can never be published; given up');
            break;
          }
          log.warn({ err, source: name, attempt }, 'tier notice not published; retrying');
          await new Promise((r) => setTimeout(r, backoff(attempt)));
        }
      }
      await deps.registry.update(rec, (cur) => withNoticeMark(cur, p.mark)).catch((err) => {
        // The notice is out; unmarked, it is published again later (and dropped as a duplicate).
        log.warn({ err, source: name }, 'tier notice published but not marked');
      });
    }
  }

  function schedule(rec: SourceRecord | null): void {
    if (!rec || stopping.signal.aborted || runs.has(sourceName(rec)) || pendingNotices(rec).length === 0) return;
    const name = sourceName(rec);
    const run = (async () => {
      let current: SourceRecord | null = rec;
      while (current && !stopping.signal.aborted) {
        await publishPending(name, current).catch((err) => log.error({ err, source: name }, 'tier notices failed'));
        // A fresh read, not the mirror (which may not show our mark yet): a transition made
        // meanwhile is published in this run; changes seen while it runs need no run of their own.
        const latest: SourceRecord | null = await deps.registry.get(current).catch(() => null);
        current = latest && pendingNotices(latest).length ? latest : null;
      }
    })();
    runs.set(name, run);
    void run.finally(() => {
      runs.delete(name);
      if (runs.size === 0) for (const f of idle) f();
    });
  }

  async function deliver(bytes: Uint8Array): Promise<boolean> {
    const hook = opts.webhook!;
    const body = Buffer.from(bytes).toString('utf8'); // the notice as published: UTF-8 JSON
    const timeoutMs = opts.webhookTimeoutMs ?? 10_000;
    // A timer of our own, not AbortSignal.timeout: a timeout signal combined with
    // AbortSignal.any can be garbage-collected before it fires (nodejs/node#57736), which let a
    // hanging receiver hold a delivery for undici's 300 s. The timer bounds the whole delivery,
    // answer body included, so a receiver trickling its answer is cut off too.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    const onStop = () => ac.abort(stopping.signal.reason);
    stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'tierstream-signature': webhookSignature(body, hook.secret) },
        body,
        signal: ac.signal,
      });
      const excerpt = await readAtMost(res.body, MAX_ANSWER_BYTES);
      if (res.ok) return true;
      log.warn({ status: res.status, answer: excerpt }, 'webhook receiver refused a tier notice; retrying later');
    } catch (err) {
      if (!stopping.signal.aborted) log.warn({ err }, 'webhook receiver not reached; retrying later');
    } finally {
      clearTimeout(timer);
      stopping.signal.removeEventListener('abort', onStop);
    }
    return false;
  }

  return {
    start(): void {
      deps.registry.onChange(schedule);
      for (const rec of deps.registry.list()) schedule(rec);
      if (opts.webhook) {
        const ackWaitMs = Math.max(30_000, 3 * (opts.webhookTimeoutMs ?? 10_000));
        delivering = deps.channel.consume(deliver, { signal: stopping.signal, retryDelayMs: backoff, ackWaitMs }).catch((err) => {
          if (!stopping.signal.aborted) log.error({ err }, 'webhook deliveries stopped');
        });
      }
    },
    /** Resolves when no notice waits to be published by this process (tests). */
    settled(): Promise<void> {
      if (runs.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const f = () => (idle.delete(f), resolve());
        idle.add(f);
      });
    },
    async stop(): Promise<void> {
      stopping.abort();
      await delivering;
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
