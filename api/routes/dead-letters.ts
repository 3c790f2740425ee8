import type { FastifyInstance } from 'fastify';
import type { DeadLetterCounts, DeadLetterStore } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ApiError } from '../errors.js';
import { answer, cursorAnswer, nullableTime, pageLimit, timeString } from '../schemas.js';

/** Newest letters read to count them by code: a full stream (a million letters) is not read per request. */
export const MAX_COUNTED = 100_000;
/** How long one count is answered again (the console refreshes every 5 s), ms. */
export const COUNTS_TTL_MS = 5_000;

/** Most letters one replay request names. */
export const MAX_REPLAY = 500;

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

const letter = {
  type: 'object',
  required: ['seq', 'code', 'subject', 'time', 'message', 'size', 'excerpt', 'replayedAt'],
  properties: {
    seq: { type: 'integer', description: "the letter's sequence in the dead-letter stream: name it to replay it" },
    code: { type: 'string', description: 'the Tierstream-Error code (docs/producing.md, "Event format")' },
    subject: { type: 'string', description: 'the subject the message was published on' },
    time: { ...timeString, description: 'when it was dead-lettered' },
    message: { type: 'string', description: 'the reason in words' },
    size: { type: 'integer', description: "the payload's size, bytes" },
    excerpt: { type: 'string', description: "the payload's first 256 characters (invalid UTF-8 shown as U+FFFD)" },
    replayedAt: { ...nullableTime, description: 'when it was replayed; null if never' },
  },
} as const;

/** Dead letters, read and replayed (docs/producing.md, "Dead letters"). Admin only. */
export function deadLetterRoutes(app: FastifyInstance, deps: AppDeps): void {
  const store = (): DeadLetterStore => {
    if (!deps.deadLetters) throw new ApiError('store_unavailable', 'this process does not read dead letters');
    return deps.deadLetters;
  };
  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/dead-letters',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listDeadLetters',
        summary: 'The dead letters, oldest first, with code, subject, time and an excerpt',
        tags: ['ingest'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: pageLimit, cursor: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } },
        },
        response: {
          200: answer('a page of dead letters', { type: 'object', required: ['items', 'cursor'], properties: { items: { type: 'array', items: letter }, cursor: cursorAnswer } }),
        },
      },
    },
    async (req) => {
      const from = req.query.cursor === undefined ? undefined : Number(req.query.cursor);
      const { items, next } = await store().list(from, req.query.limit ?? 100);
      return { items: items.map((l) => ({ ...l, time: iso(l.time), replayedAt: iso(l.replayedAt) })), cursor: next === null ? null : String(next) };
    },
  );
  let counted: { at: number; value: Promise<DeadLetterCounts> } | undefined;
  app.get(
    '/v1/dead-letters/counts',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'countDeadLetters',
        summary: 'How many dead letters there are, and how many of each code',
        description: `The codes are counted over the newest ${MAX_COUNTED.toLocaleString('en-US')} letters (\`scanned\` says how many were read); an answer is reused for ${COUNTS_TTL_MS / 1000} s. ` +
          'The newest letters are GET /v1/dead-letters?cursor=<lastSeq - n + 1>.',
        tags: ['ingest'],
        response: {
          200: answer('the counts', {
            type: 'object',
            required: ['total', 'firstSeq', 'lastSeq', 'scanned', 'byCode'],
            properties: {
              total: { type: 'integer', description: 'letters in the dead-letter stream' },
              firstSeq: { type: ['integer', 'null'], description: 'the oldest letter\'s seq; null when there is none' },
              lastSeq: { type: ['integer', 'null'], description: 'the newest letter\'s seq; null when there is none' },
              scanned: { type: 'integer', description: 'letters read to count the codes (the newest ones)' },
              byCode: { type: 'object', additionalProperties: { type: 'integer' }, description: 'code -> letters among those read' },
            },
          }),
        },
      },
    },
    async () => {
      if (!counted || Date.now() - counted.at >= COUNTS_TTL_MS) {
        const value = store().counts(MAX_COUNTED);
        counted = { at: Date.now(), value };
        value.catch(() => (counted = undefined)); // a failure is not reused
      }
      return counted.value;
    },
  );
  app.post<{ Body: { seqs: number[] } }>(
    '/v1/dead-letters/replay',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'replayDeadLetters',
        summary: 'Republish dead letters to the subject they came from (after a fix upstream), and mark them replayed',
        description: 'A letter replayed before is not sent again (`already_replayed`); one still bad becomes a new letter.',
        tags: ['ingest'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['seqs'],
          properties: { seqs: { type: 'array', minItems: 1, maxItems: MAX_REPLAY, uniqueItems: true, items: { type: 'integer', minimum: 1 } } },
        },
        response: {
          200: answer('what became of each letter', {
            type: 'object',
            required: ['results'],
            properties: {
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['seq', 'result'],
                  properties: {
                    seq: { type: 'integer' },
                    result: { type: 'string', enum: ['replayed', 'already_replayed', 'not_found', 'not_an_event_subject'] },
                    replayedAt: timeString,
                    subject: { type: 'string', description: 'not_an_event_subject: the subject, outside the events stream' },
                  },
                },
              },
            },
          }),
        },
      },
    },
    async (req) => {
      const results = await store().replay(req.body.seqs);
      return { results: results.map((r) => ('replayedAt' in r ? { ...r, replayedAt: iso(r.replayedAt) } : r)) };
    },
  );
}
