export { NatsKvRegistry, registryKey } from './nats-kv.js';
export { KvDocStore, isCasConflict } from './kv-store.js';
export { NatsNoticeChannel, noticeNames } from './notices.js';
export { NatsKvSourceIds } from './source-ids.js';
