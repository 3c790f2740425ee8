export { RedisHotIndex, type RedisHotIndexOptions } from './hot-index.js';
export { defineCommands } from './commands.js';
export { sourceKeys, sourceTag } from './keys.js';
export { createRedis } from './client.js';
