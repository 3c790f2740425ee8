export * from './redis/index.js';
export * from './clickhouse/index.js';
export * from './nats/index.js';
