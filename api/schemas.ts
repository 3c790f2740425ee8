import { FILTER_SCHEMA, filterSchemas, ID_PATTERN, TIERS, USER_ID_PATTERN } from '../core/index.js';
import { API_ERRORS, type ApiErrorCode } from './errors.js';

/** JSON Schemas shared by the routes (ids by the character sets of core/sources.ts). */
export const idString = { type: 'string', pattern: ID_PATTERN } as const;
export const userIdString = { type: 'string', pattern: USER_ID_PATTERN } as const;
// Epoch milliseconds or ISO-8601 text; bodies are not coerced, so `null` or `true` is a 400.
export const timeValue = { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 64 }] } as const;

export const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: idString },
} as const;

/**
 * A retargeting filter, in a body or an answer: `$ref` to the shared `Filter` schema (core
 * filterSchemas, the grammar as a recursive JSON Schema), which the OpenAPI document and the
 * typed client show. Requests are not validated against it: parseFilter checks the grammar
 * and answers 400 invalid_filter with the path of the offending node (`filter.and[1].within`),
 * which a schema validator's message would not name as plainly; see `validatorCompiler` in app.ts.
 */
export const filterSchema = { $ref: `${FILTER_SCHEMA}#` } as const;

/** Most items in one page of a listing (sources, expiring, erasures). */
export const MAX_PAGE = 500;
/** The `limit` query parameter of every paged listing. */
export const pageLimit = { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 } as const;

/*
 * Answers. Each route's `response` schemas serialize its answers (fast-json-stringify: a
 * property a schema does not name is dropped, a `required` one missing is a 500) and are the
 * OpenAPI document's description of them, so the document cannot say one thing while the API
 * sends another. Shared ones are registered once (`addSchema`, see SHARED_SCHEMAS) and appear
 * in the document under components/schemas by their `$id`.
 */

/** An answer's time: ISO-8601 UTC with milliseconds. */
export const timeString = { type: 'string', format: 'date-time', description: 'ISO-8601 UTC with milliseconds, e.g. 2026-11-25T10:00:00.000Z' } as const;
export const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;
export const tier = { type: 'string', enum: TIERS } as const;
/** A tier, or null for a source that is not known. */
export const nullableTier = { type: ['string', 'null'], enum: [...TIERS, null] } as const;
export const sourceKind = { type: 'string', enum: ['campaign', 'canvas'] } as const;
/** A `kind:id` source name, e.g. `campaign:A`. */
const sourceName = { type: 'string', description: 'campaign:<id> or canvas:<id>' } as const;
/** The next page's cursor, null on the last page. */
export const cursorAnswer = { type: ['string', 'null'], description: 'pass it back as `cursor` for the next page; null on the last page' } as const;
/** Where a lookup was answered from. */
export const servedFrom = { type: 'string', enum: ['hot', 'history'] } as const;

/**
 * A node of an explained filter (POST /v1/retargeting/explain). Its members (`and`, `or`, `not`)
 * are nodes of the same shape, described here once rather than as a recursive schema.
 */
export const explainNode = {
  type: 'object',
  required: ['matched'],
  description: 'a combinator {"matched", "and" | "or": [node], or "not": node} or a leaf {"matched", "leaf", "servedFrom", "window", "time" | "count", "sources"?}',
  properties: {
    matched: { type: 'boolean', description: "this node's own value for the user (a not's universe is the answer's inUniverse)" },
    and: { type: 'array', items: { type: 'object' }, description: 'member nodes, of this shape' },
    or: { type: 'array', items: { type: 'object' }, description: 'member nodes, of this shape' },
    not: { type: 'object', description: 'the negated node, of this shape' },
    leaf: { type: 'object', description: 'the leaf as written (times as ISO-8601 UTC)' },
    servedFrom: { type: 'string', enum: ['hot', 'history'], description: 'where this leaf\'s time or count was read' },
    window: {
      type: 'object', required: ['after', 'before'], description: 'the window at the lookup, [after, before); null: open',
      properties: { after: { type: ['string', 'null'], format: 'date-time' }, before: { type: ['string', 'null'], format: 'date-time' } },
    },
    time: { type: ['string', 'null'], format: 'date-time', description: 'latest-time leaves: the user\'s latest such event, in the window or not; null when none' },
    count: { type: 'integer', description: 'count leaves: the user\'s distinct such events in the window' },
    sources: { type: 'array', items: { type: 'string' }, description: 'tag leaves: the sources the tag stood for' },
  },
} as const;

/** `$ref`s to the shared schemas below, by their `$id`. */
export const ref = {
  error: { $ref: 'ApiError#' },
  sourceState: { $ref: 'SourceState#' },
  filterDoc: { $ref: 'RegisteredFilter#' },
  erasure: { $ref: 'Erasure#' },
} as const;

const apiError = {
  $id: 'ApiError',
  type: 'object',
  description: 'Every error answer. The codes are stable (docs/errors.md); messages are for humans and may change.',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', enum: Object.keys(API_ERRORS) },
    message: { type: 'string' },
    path: { type: 'string', description: 'invalid_filter: the offending node, e.g. filter.and[1].within' },
    sources: { ...strings, description: 'source_expired, source_restoring, source_not_found: the sources concerned (campaign:A, ...)' },
    limit: { type: 'string', description: 'too_many_*: the limit passed (sources, filters, tags_per_source)' },
    max: { type: 'integer', description: "too_many_*: the limit's value (TIERSTREAM_MAX_*)" },
    events: { type: 'integer', description: 'source_has_events: the events history holds for the source' },
    pinnedBy: { ...strings, description: 'source_pinned: the registered filters that pin the source' },
    checks: { type: 'object', additionalProperties: { type: 'string' }, description: '/readyz: each check, "ok" or what is wrong' },
  },
} as const;

const sourceState = {
  $id: 'SourceState',
  type: 'object',
  description: 'A campaign or canvas: lifecycle, tier, pins, restore progress, transitions and counts.',
  required: ['id', 'kind', 'name', 'tags', 'status', 'tier', 'stoppedAt', 'expiresAt', 'pinnedBy', 'restore', 'transitions', 'counts'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['campaign', 'canvas'] },
    name: { type: ['string', 'null'] },
    tags: strings,
    status: { type: 'string', enum: ['active', 'stopped'] },
    tier,
    stoppedAt: nullableTime,
    expiresAt: { ...nullableTime, description: 'when a stopped, unpinned source expires; null otherwise' },
    pinnedBy: { ...strings, description: 'ids of the registered filters that pin it' },
    restore: {
      type: ['object', 'null'],
      description: 'the last restore; null when it was never restored',
      required: ['startedAt', 'finishedAt', 'progress', 'etaSeconds', 'waiting'],
      properties: {
        startedAt: timeString,
        finishedAt: nullableTime,
        progress: { type: 'number', minimum: 0, maximum: 1 },
        etaSeconds: { type: ['integer', 'null'], description: 'estimated seconds left; null before an estimate exists and when not restoring' },
        waiting: {
          type: ['string', 'null'],
          description: 'why a restore is not moving, in words (its claim lapsed and another process takes it over; a store that does not answer); null when it is moving or not restoring',
        },
      },
    },
    transitions: {
      type: 'array',
      description: 'the audit trail, oldest first (the last 100)',
      items: { type: 'object', required: ['tier', 'at', 'reason'], properties: { tier, at: timeString, reason: { type: 'string' } } },
    },
    counts: {
      type: 'object',
      description: 'may lag ingestion by a few seconds',
      required: ['hot', 'history'],
      properties: {
        hot: { type: ['integer', 'null'], description: 'distinct users with any hot interaction; null unless hot' },
        history: { type: 'integer', description: 'distinct event ids in history' },
      },
    },
  },
} as const;

const registeredFilter = {
  $id: 'RegisteredFilter',
  type: 'object',
  required: ['id', 'filter', 'sources', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    filter: { ...filterSchema, description: 'the filter as registered' },
    sources: { ...strings, description: 'the sources it stands for now (named ones, then those carrying its tags)' },
    updatedAt: timeString,
  },
} as const;

const erasure = {
  $id: 'Erasure',
  type: 'object',
  required: ['id', 'userId', 'status', 'requestedAt', 'finishedAt', 'removed'],
  properties: {
    id: { type: 'string' },
    userId: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'done'] },
    requestedAt: timeString,
    finishedAt: nullableTime,
    removed: {
      type: 'object',
      required: ['history', 'hot'],
      properties: {
        history: { type: 'integer', description: "the user's distinct event ids removed from history" },
        hot: { type: 'integer', description: 'hot-index members removed, one per source and index the user was in' },
      },
    },
  },
} as const;

/** Registered on the app once, before the routes, so routes can `$ref` them. */
export const SHARED_SCHEMAS = [apiError, sourceState, registeredFilter, erasure, ...filterSchemas()] as const;

/**
 * A route's `serializerCompiler` that answers with JSON.stringify: its response schemas then only
 * document the answer (test/integration/answers.ts checks real answers against them).
 */
export const plainJson = () => (data: unknown) => JSON.stringify(data);

/** A 2xx answer: its description, and its JSON body's schema (`null` for none). */
export function answer(description: string, schema: object | null) {
  if (schema === null) return { description, type: 'null' } as const;
  return { description, content: { 'application/json': { schema } } } as const;
}

/** What the error answers of a route carry, by code; the status comes from API_ERRORS. */
const ERROR_WHEN: Partial<Record<ApiErrorCode, string>> = {
  invalid_request: 'a body, query or parameter breaks its schema',
  invalid_json: 'the body is not JSON, or not valid UTF-8',
  invalid_filter: 'the filter is outside the grammar (`path` names the node)',
  invalid_cursor: 'the cursor was not given by this kind of walk (hot or history); start again without it',
  unauthorized: 'keys are configured and there is no known Bearer key',
  forbidden: "the key lacks the route's scope",
  source_not_found: 'a campaign or canvas named is not known (`sources` when a filter names it)',
  source_has_events: 'the source has events in history; only a source without events can be deleted (`events`)',
  source_pinned: 'a registered filter names the source (`pinnedBy`): delete or replace the filter first',
  too_many_sources: 'a new source would pass the namespace\'s limit (`limit`, `max`: TIERSTREAM_MAX_SOURCES)',
  too_many_filters: 'a new filter would pass the limit of registered filters (`limit`, `max`: TIERSTREAM_MAX_FILTERS)',
  too_many_tags: 'more tags than a source may carry (`limit`, `max`: TIERSTREAM_MAX_TAGS)',
  filter_not_found: 'no filter is registered under this id',
  erasure_not_found: 'no such erasure',
  source_expired: 'a source the filter names is expired or being demoted (`sources`); use "from": "history"',
  transition_in_progress: 'the source is being restored',
  payload_too_large: 'a body over 1 MiB',
  rate_limited: 'more requests per second than the limit (header Retry-After)',
  internal_error: 'a bug or an unexpected failure; details are in the log',
  source_restoring: 'a source the filter names is being restored (`sources`)',
  store_unavailable: 'Redis, ClickHouse or NATS did not answer in time (header Retry-After: 1)',
  stream_full: 'the events stream is at its max_bytes (TIERSTREAM_EVENTS_MAX_BYTES) with events not yet ingested: send again later (header Retry-After: 1)',
  lookup_timeout: 'a count or audience page did not finish its walk in time; it stopped sending work (ask for an estimate)',
  not_ready: 'NATS, Redis or ClickHouse does not answer, or the events stream is full or holds more events not ingested than TIERSTREAM_BACKLOG_MAX (`checks`)',
  hot_tier_rebuilding: 'the hot tier is being rebuilt from history (`checks`)',
};

const retryAfter = { 'retry-after': { type: 'integer', description: 'seconds to wait before retrying' } } as const;

/**
 * Error answers of a route, grouped by status: `{404: {description, content: ApiError}}`.
 * The description lists each code and when it is answered.
 */
export function errorAnswers(codes: readonly ApiErrorCode[]): Record<number, object> {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const c of codes) byStatus.set(API_ERRORS[c], [...(byStatus.get(API_ERRORS[c]) ?? []), c]);
  const out: Record<number, object> = {};
  for (const [status, list] of byStatus) {
    out[status] = {
      description: list.map((c) => `${c}: ${ERROR_WHEN[c] ?? c}`).join('; '),
      ...(list.some((c) => c === 'rate_limited' || c === 'store_unavailable' || c === 'stream_full') && { headers: retryAfter }),
      content: { 'application/json': { schema: ref.error } },
    };
  }
  return out;
}
