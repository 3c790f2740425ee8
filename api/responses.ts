/**
 * JSON Schemas of answers, for the routes that declare their responses (the OpenAPI document at
 * /docs). Fastify serializes a 2xx body by its schema and drops what the schema does not name,
 * so each lists every field the contract gives.
 */

const time = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
export const tierEnum = { type: 'string', enum: ['hot', 'demoting', 'expired', 'restoring'] } as const;
export const kindEnum = { type: 'string', enum: ['campaign', 'canvas'] } as const;

/** A source's state (contract: "State"), as GET /v1/campaigns/:id answers it. */
export const sourceStateSchema = {
  type: 'object',
  required: ['id', 'kind', 'status', 'tier', 'stoppedAt', 'expiresAt', 'pinnedBy', 'restore', 'transitions', 'counts'],
  properties: {
    id: { type: 'string' },
    kind: kindEnum,
    name: { type: ['string', 'null'] },
    tags: { type: 'array', items: { type: 'string' } },
    status: { type: 'string', enum: ['active', 'stopped'] },
    tier: tierEnum,
    stoppedAt: nullableTime,
    expiresAt: nullableTime,
    pinnedBy: { type: 'array', items: { type: 'string' } },
    restore: {
      type: ['object', 'null'],
      required: ['startedAt', 'finishedAt', 'progress', 'etaSeconds'],
      properties: {
        startedAt: nullableTime,
        finishedAt: nullableTime,
        progress: { type: 'number', minimum: 0, maximum: 1 },
        etaSeconds: { type: ['integer', 'null'], description: 'estimated seconds left while restoring; null before the first chunk and outside a restore' },
      },
    },
    transitions: {
      type: 'array',
      items: { type: 'object', required: ['tier', 'at', 'reason'], properties: { tier: tierEnum, at: time, reason: { type: 'string' } } },
    },
    counts: {
      type: 'object',
      required: ['hot', 'history'],
      properties: {
        hot: { type: ['integer', 'null'], description: 'distinct users with any hot interaction; null unless hot' },
        history: { type: 'integer', description: 'distinct event ids in history' },
      },
    },
  },
} as const;

/** Every error answer: a stable code and a message, and what the code adds (`path`, `sources`). */
export const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  additionalProperties: true,
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

/** The error answers of an authenticated /v1 GET: 400, 401, 403, 429, 503 (docs/errors.md). */
export const errorResponses = {
  400: { description: 'invalid_request', ...errorSchema },
  401: { description: 'unauthorized: no key, or an unknown one', ...errorSchema },
  403: { description: 'forbidden: the key lacks the scope', ...errorSchema },
  429: { description: 'rate_limited', ...errorSchema },
  503: { description: 'store_unavailable', ...errorSchema },
} as const;

/** Bearer authentication (when TIERSTREAM_API_KEYS is set). */
export const bearer = [{ bearer: [] }];

export { time as timeSchema, nullableTime as nullableTimeSchema };
