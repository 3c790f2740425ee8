export { NatsKvRegistry, registryKey } from './nats-kv.js';
export { KvDocStore, byId, idKey, isCasConflict } from './kv-store.js';
export { NatsNoticeChannel } from './notices.js';
export { natsNames, noticeNames, bucketNames, kvStream } from './names.js';
export { NatsKvSourceIds } from './source-ids.js';
export { JS_ERR, isJsAlreadyExists, isJsNotFound, isTransientNatsError, jsErrCode } from './errors.js';
export { connectNats, jetstreamStep, natsAnswers } from './connection.js';
export { natsLeaseProbe } from './lease-probe.js';
export { NatsPressureChannel } from './pressure.js';
