export { NatsKvRegistry, registryKey, newSourceRecord } from './nats-kv.js';
export { KvDocStore, isCasConflict } from './kv-store.js';
