import { FilterError, LimitError, SourceNotFoundError } from '../core/index.js';
import { LookupError } from '../engine/lookup/index.js';
import { ErasureError } from '../engine/erasures/index.js';
import { RemovalError, TierError } from '../engine/tiers/index.js';

/** Every error code the API answers with, its HTTP status, in one place (listed in the README). */
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
  lookup_timeout: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'TIMEOUT', 'CONNECTION_CLOSED', 'DISCONNECT']);
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
// ClickHouse's own: a shard of a cluster that is away (NETWORK_ERROR 210, ALL_CONNECTION_TRIES_FAILED 279).
const UNAVAILABLE_MESSAGES = /Connection is closed|Too many Cluster redirections|CLUSTERDOWN|socket hang up|ECONNREFUSED|ECONNRESET|All connection tries failed|DB::NetException/;

/** Whether an error says a store (Redis, ClickHouse, NATS) did not answer, rather than a bug. */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (UNAVAILABLE_CODES.has(String(e.code)) || UNAVAILABLE_NAMES.has(String(e.name))) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isStoreUnavailable(e.cause);
}

export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ApiErrorCode, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
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
