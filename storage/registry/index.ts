export { NatsKvRegistry, registryKey, newSourceRecord } from './nats-kv.js';
