import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * The project's Lua scripts (lua/*.lua, each with its KEYS/ARGV header) as typed client
 * commands. None of them answers with an error code of its own: apply and sentinel return
 * plain numbers their callers read, and filter_set's failures arrive as Redis error replies.
 */

export type RedisClient = Redis | Cluster;

/** A client with the scripts registered (see defineCommands). */
export type WithCommands = RedisClient & {
  /** lua/filter_set.lua: count or page of a one-source filter. */
  tsFilterSet(numKeys: number, ...args: (string | number)[]): Promise<number | string[]>;
  /** lua/apply.lua: 1 applied, 0 skipped (tier gate closed). */
  tsApply(numKeys: number, ...args: (string | number)[]): Promise<number>;
  /** lua/sentinel.lua: 0..3, see its header. */
  tsSentinel(sentinel: string, rebuilding: string, owner: string, ttlMs: number, force: 0 | 1): Promise<number>;
};

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Registers the project's Lua scripts once, so calls use EVALSHA and reload on NOSCRIPT. */
export function defineCommands(redis: RedisClient): WithCommands {
  const r = redis as WithCommands;
  if (typeof r.tsApply !== 'function') redis.defineCommand('tsApply', { lua: lua('apply') });
  if (typeof r.tsFilterSet !== 'function') redis.defineCommand('tsFilterSet', { lua: lua('filter_set') });
  if (typeof r.tsSentinel !== 'function') redis.defineCommand('tsSentinel', { lua: lua('sentinel'), numberOfKeys: 2 });
  return r;
}
