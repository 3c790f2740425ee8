export { buildApp, parseSources, type AppDeps } from './app.js';
export { ApiError, API_ERRORS, type ApiErrorCode } from './errors.js';
