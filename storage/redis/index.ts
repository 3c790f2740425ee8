export { RedisHotIndex, defineCommands, type RedisHotIndexOptions } from './hot-index.js';
export { sourceKeys, sourceTag } from './keys.js';
export { createRedis } from './client.js';
