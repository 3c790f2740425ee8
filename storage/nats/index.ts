export { NatsKvRegistry, registryKey } from './nats-kv.js';
export { KvDocStore, isCasConflict } from './kv-store.js';
export { NatsNoticeChannel } from './notices.js';
export { natsNames, noticeNames, bucketNames, kvStream } from './names.js';
export { NatsKvSourceIds } from './source-ids.js';
export { JS_ERR, isJsAlreadyExists, isJsNotFound, isTransientNatsError, jsErrCode } from './errors.js';
