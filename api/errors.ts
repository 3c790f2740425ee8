/** Every error code the API answers with, its HTTP status, in one place (listed in the README). */
export const API_ERRORS = {
  invalid_request: 400,
  invalid_filter: 400,
  unauthorized: 401,
  forbidden: 403,
  source_not_found: 404,
  not_found: 404,
  filter_not_found: 404,
  source_expired: 409,
  transition_in_progress: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal_error: 500,
  not_ready: 503,
  hot_tier_rebuilding: 503,
  source_restoring: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ApiErrorCode, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = API_ERRORS[code];
  }
}
