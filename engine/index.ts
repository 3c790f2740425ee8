export { createEngine, ENGINE_DEFAULTS, type Engine, type EngineDeps, type EngineOptions } from './engine.js';
export { createMetrics, type Metrics } from './metrics.js';
export { natsNames, ensureStreams, deleteStreams } from './jetstream.js';
export { decodeEvent, validateEvent, DecodeError, MAX_MESSAGE_BYTES, ID_PATTERN, USER_ID_PATTERN, type DecodeErrorCode } from './validate.js';
export { foldEvents } from './fold.js';
export { indexName, parseIndexName } from './index-names.js';
export { parseTime, formatTime } from './time.js';
export * from './types.js';
