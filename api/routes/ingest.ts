import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  checkEvent, DEFAULT_MAX_FUTURE_MS, mapBrazeCurrentsEvent, mapSegmentCall, StreamFullError,
  type EventSink, type Mapped, type PublishOutcome,
} from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { answer } from '../schemas.js';

/** Most events in one request, on every ingestion route (docs/producing.md, "Over HTTP: what every route answers"). */
export const MAX_INGEST_BATCH = 1_000;
/** Largest ingestion body, bytes (1,000 events of 4 KiB; Braze sends batches of 100). */
export const MAX_INGEST_BODY = 4 * 1_048_576;
/** Default of TIERSTREAM_INGEST_RATE: events per second per key (per address without keys), bursts of one second's worth. */
export const DEFAULT_INGEST_RATE = 50_000;

/** One event's result in an answer. */
interface Result {
  index: number;
  id?: string;
  status: 'stored' | 'duplicate' | 'rejected' | 'skipped';
  error?: string;
  message?: string;
  name?: string;
}

const resultSchema = {
  type: 'object',
  required: ['index', 'status'],
  properties: {
    index: { type: 'integer', description: "the event's position in the request's array" },
    id: { type: 'string', description: "the event's id as sent (Braze's `id`, Segment's `messageId`)" },
    status: {
      type: 'string',
      enum: ['stored', 'duplicate', 'rejected', 'skipped'],
      description: 'stored: JetStream stored it; duplicate: JetStream already held an event of this message id; rejected: see `error`; skipped: no tierstream meaning (`name`)',
    },
    error: { type: 'string', description: 'rejected: the code, as a dead letter would carry it (docs/errors.md)' },
    message: { type: 'string' },
    name: { type: 'string', description: 'skipped: the foreign event type or name' },
  },
} as const;

const ingestAnswer = answer('each event stored, a duplicate, rejected (with its code) or skipped', {
  type: 'object',
  required: ['stored', 'duplicates', 'rejected', 'skipped', 'skippedByName', 'results'],
  properties: {
    stored: { type: 'integer' },
    duplicates: { type: 'integer' },
    rejected: { type: 'integer' },
    skipped: { type: 'integer' },
    skippedByName: { type: 'object', additionalProperties: { type: 'integer' }, description: 'skipped events by their foreign type or name' },
    results: { type: 'array', items: resultSchema },
  },
});

const batchBody = (description: string, field: 'events' | 'batch') => ({
  type: 'object',
  required: [field],
  properties: { [field]: { type: 'array', maxItems: MAX_INGEST_BATCH, items: {}, description } },
});

/**
 * A token bucket per key: `rate` events a second, at most a second's worth saved. Refuses a
 * request whose events do not fit (429 rate_limited) rather than storing part of it.
 */
function eventRate(rate: number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (req: FastifyRequest, reply: FastifyReply, n: number) => {
    const key = req.apiKey?.id ?? req.ip;
    const now = performance.now();
    const b = buckets.get(key) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (buckets.size > 10_000) buckets.clear();
    buckets.set(key, b);
    if (n > b.tokens) {
      const after = Math.max(1, Math.ceil((n - b.tokens) / rate));
      reply.header('retry-after', String(after));
      throw new ApiError('rate_limited', `more than ${rate} events per second; retry after ${after} s`);
    }
    b.tokens -= n;
  };
}

/**
 * Ingestion over HTTP (scope `ingest`): tierstream events, Braze Currents batches, Segment
 * track calls. Each event is checked as the engine checks a NATS message; the valid ones are
 * published to JetStream (Nats-Msg-Id: the event's message id) and the answer comes once
 * JetStream stored every one. A batch with bad events stores the good ones and names the bad
 * (200); when JetStream does not store every valid event, the answer is 503 and the whole batch
 * can be sent again (the message ids make copies duplicates).
 */
export function ingestRoutes(app: FastifyInstance, deps: AppDeps): void {
  const take = eventRate(deps.ingestEventsPerSecond ?? DEFAULT_INGEST_RATE);
  const maxFutureMs = deps.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;

  async function ingest(req: FastifyRequest, reply: FastifyReply, mapped: Mapped[]) {
    take(req, reply, mapped.length);
    const sink: EventSink | undefined = deps.events;
    if (!sink) throw new ApiError('store_unavailable', 'this process does not publish events');
    const now = Date.now();
    const results: Result[] = [];
    const pending: Promise<PublishOutcome>[] = [];
    const at: Result[] = [];
    const skippedByName: Record<string, number> = {};
    mapped.forEach((m, index) => {
      const r: Result = { index, status: 'rejected', ...(m.id !== undefined && { id: m.id }) };
      results.push(r);
      if (m.kind === 'skipped') {
        r.status = 'skipped';
        r.name = m.name;
        skippedByName[m.name] = (skippedByName[m.name] ?? 0) + 1;
        return;
      }
      if (m.kind === 'invalid') {
        r.error = m.code;
        r.message = m.message;
        return;
      }
      const c = checkEvent(m.event, now, maxFutureMs);
      if (!c.ok) {
        r.error = c.code;
        r.message = c.message;
        return;
      }
      pending.push(sink.publish(c.event.type, c.data, m.msgId ?? c.event.id));
      at.push(r);
    });
    const outcomes = await Promise.allSettled(pending);
    let failed: unknown;
    let full: StreamFullError | undefined;
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') at[i]!.status = o.value;
      else {
        failed ??= o.reason;
        if (o.reason instanceof StreamFullError) full ??= o.reason;
      }
    });
    if (full) {
      req.log.warn({ err: full }, 'events refused: the events stream is full');
      throw new ApiError('stream_full', 'the events stream is full (ingest is behind, or stopped): send the batch again later; what was stored comes back duplicate');
    }
    if (failed !== undefined) {
      req.log.warn({ err: failed }, 'events not stored by JetStream');
      throw new ApiError('store_unavailable', `JetStream did not store every event (${String((failed as Error).message ?? failed)}); send the batch again: copies are duplicates`);
    }
    const count = (s: Result['status']) => results.filter((r) => r.status === s).length;
    return { stored: count('stored'), duplicates: count('duplicate'), rejected: count('rejected'), skipped: count('skipped'), skippedByName, results };
  }

  const common = (operationId: string, summary: string, description: string, body: object) => ({
    bodyLimit: MAX_INGEST_BODY,
    config: { scope: 'ingest' as const, errors: ['stream_full' as const] },
    schema: { operationId, summary, description, tags: ['ingest'], body, response: { 200: ingestAnswer } },
  });

  app.post<{ Body: { events: unknown[] } }>(
    '/v1/events',
    common(
      'ingestEvents',
      'Publish tierstream events: each checked as on NATS, answered once JetStream stored it',
      `Events in the format of docs/producing.md, "Event format", at most ${MAX_INGEST_BATCH} per request. Nats-Msg-Id is the event's id.`,
      batchBody('tierstream events', 'events'),
    ),
    async (req, reply) => ingest(req, reply, req.body.events.map((event) => ({
      kind: 'event',
      event: event as Record<string, unknown>,
      id: typeof (event as { id?: unknown } | null)?.id === 'string' ? (event as { id: string }).id : undefined,
      msgId: undefined,
    }))),
  );
  app.post<{ Body: { events: unknown[] } }>(
    '/v1/ingest/braze-currents',
    common(
      'ingestBrazeCurrents',
      "Braze Currents' Custom HTTP connector: its batches, mapped by the tables of docs/producing.md (Braze Currents)",
      'A 2xx only once every mapped event is stored; events with no tierstream meaning are counted and skipped. Idempotent by the Currents `id`.',
      batchBody('Currents events as Braze sends them', 'events'),
    ),
    async (req, reply) => ingest(req, reply, req.body.events.map(mapBrazeCurrentsEvent)),
  );
  app.post<{ Body: Record<string, unknown> }>(
    '/v1/ingest/segment',
    common(
      'ingestSegment',
      'Segment track calls (email and push specs, Braze\'s Segment export), mapped by the tables of docs/producing.md (Segment)',
      `One call, or Segment's batch {"batch": [call, ...]} of at most ${MAX_INGEST_BATCH}. Idempotent by messageId; other calls and events are counted and skipped.`,
      {
        type: 'object',
        properties: { batch: { type: 'array', maxItems: MAX_INGEST_BATCH, items: {} } },
        description: 'a Segment call, or {"batch": [...]}',
      },
    ),
    async (req, reply) => {
      const calls = Array.isArray(req.body.batch) ? req.body.batch : [req.body];
      return ingest(req, reply, calls.map(mapSegmentCall));
    },
  );
}
