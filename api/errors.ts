import { FilterError, LimitError, SourceNotFoundError, TierstreamError } from '../core/index.js';
import { LookupError } from '../engine/lookup/index.js';
import { ErasureError } from '../engine/erasures/index.js';
import { RemovalError, TierError } from '../engine/tiers/index.js';

/** Every error code the API answers with, its HTTP status, in one place (listed in docs/errors.md). */
export const API_ERRORS = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_filter: 400,
  invalid_cursor: 400,
  unauthorized: 401,
  forbidden: 403,
  source_not_found: 404,
  not_found: 404,
  filter_not_found: 404,
  erasure_not_found: 404,
  too_many_tags: 400,
  source_expired: 409,
  source_has_events: 409,
  source_pinned: 409,
  too_many_sources: 409,
  too_many_filters: 409,
  request_timeout: 408,
  transition_in_progress: 409,
  payload_too_large: 413,
  headers_too_large: 431,
  rate_limited: 429,
  internal_error: 500,
  not_ready: 503,
  hot_tier_rebuilding: 503,
  source_restoring: 503,
  store_unavailable: 503,
  stream_full: 503,
  lookup_timeout: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/**
 * The codes of a store that did not answer: Node's sockets (net, undici: `ECONNREFUSED`...)
 * and nats.js (`TIMEOUT`, `CONNECTION_CLOSED`, `DISCONNECT`).
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'TIMEOUT', 'CONNECTION_CLOSED', 'DISCONNECT']);
/** ioredis's classes for a Redis (or every node of a cluster) that did not answer. */
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** Redis's reply codes (a reply error's first word; ioredis's ReplyError has no `code`) for a cluster that cannot serve. */
const UNAVAILABLE_REPLIES = new Set(['CLUSTERDOWN']);
/**
 * ClickHouse's error types (and numbers) for a node or a cluster's shard that is away:
 * NETWORK_ERROR (210), ALL_CONNECTION_TRIES_FAILED (279), as @clickhouse/client's
 * ClickHouseError gives them in `type` and `code`.
 */
const CLICKHOUSE_UNAVAILABLE = new Set(['NETWORK_ERROR', 'ALL_CONNECTION_TRIES_FAILED', '210', '279']);
/**
 * Messages of errors whose client gives no code, the one place messages are read: ioredis's
 * closed connection and cluster redirection loop (plain Errors), and ClickHouse servers older
 * than 21.x (18.16 here), whose messages lack the `(TYPE)` marker @clickhouse/client parses
 * its `code` and `type` from (their network errors are `DB::NetException`s).
 */
const UNAVAILABLE_MESSAGES = /^Connection is closed|^Too many Cluster redirections|^Code: (210|279)\b|DB::NetException/;

/**
 * Whether an error says a store (Redis, ClickHouse, NATS) did not answer, rather than a bug:
 * by the client's code or class first, its message only where the client gives none; then
 * the error's `cause`, if any.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; type?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (UNAVAILABLE_CODES.has(String(e.code)) || UNAVAILABLE_NAMES.has(String(e.name))) return true;
  // A ClickHouseError is told by its `type` (its name is Error's).
  if (typeof e.type === 'string' && (CLICKHOUSE_UNAVAILABLE.has(e.type) || CLICKHOUSE_UNAVAILABLE.has(String(e.code)))) return true;
  if (e.name === 'ReplyError' && typeof e.message === 'string' && UNAVAILABLE_REPLIES.has(e.message.split(' ', 1)[0]!)) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isStoreUnavailable(e.cause);
}

export class ApiError extends TierstreamError<ApiErrorCode> {
  readonly status: number;
  constructor(code: ApiErrorCode, message: string, readonly extra: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = API_ERRORS[code];
  }
}

/**
 * A domain error as the API's answer, in one place for the one error handler: FilterError ->
 * 400 `invalid_filter` with the node's path, LookupError -> 409 `source_expired` or 503
 * `source_restoring` with the sources, TierError -> 404 `source_not_found` or 409
 * `transition_in_progress`, ErasureError -> 404 `erasure_not_found`, SourceNotFoundError ->
 * 404 `source_not_found` with the sources, RemovalError -> 409 `source_has_events` or
 * `source_pinned`, LimitError -> 400 or 409 with the limit's code, name and value. Undefined
 * for anything else.
 */
export function fromDomainError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof FilterError) return new ApiError('invalid_filter', err.message, { path: err.path });
  if (err instanceof LookupError) return new ApiError(err.code, err.message, { sources: err.sources });
  if (err instanceof TierError) return new ApiError(err.code, err.message);
  if (err instanceof ErasureError) return new ApiError(err.code, err.message);
  if (err instanceof SourceNotFoundError) return new ApiError(err.code, err.message, { sources: err.sources });
  if (err instanceof RemovalError) return new ApiError(err.code, err.message, err.detail);
  // The API never takes events (the limits on variants and steps and on link aliases are ingest's): its limits are these.
  if (err instanceof LimitError && err.code !== 'too_many_variants_and_steps' && err.code !== 'too_many_link_aliases') return new ApiError(err.code, err.message, { limit: err.limit, max: err.max });
  return undefined;
}
