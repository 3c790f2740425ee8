export { buildApp, type AppDeps } from './app.js';
export { parseSources } from './routes/users.js';
export { ApiError, API_ERRORS, type ApiErrorCode } from './errors.js';
export { createLookupWatch, signalPressure, type LookupWatch } from './pressure.js';
