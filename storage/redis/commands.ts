import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * The project's Lua scripts (lua/*.lua, each with its KEYS/ARGV header) as typed client
 * commands. None of them answers with an error of its own: they return numbers or arrays
 * their callers read (write's -1 asks for the index ids again; see write.ts).
 */

export type RedisClient = Redis | Cluster;

type Arg = string | number | Buffer;

/** A client with the scripts registered (see defineCommands). */
export type WithCommands = RedisClient & {
  /** lua/dict.lua: {generation, ids...}. */
  tsDict(meta: string, legacyKeys: string, tier: string, ...args: Arg[]): Promise<[string, ...number[]]>;
  /** lua/write.lua: 1 applied, 0 skipped (tier gate closed), -1 generation changed. */
  tsWrite(tier: string, meta: string, ...args: Arg[]): Promise<number>;
  /** lua/read.lua, replies as Buffers: {cs, ids..., value (records or marks) per user}. */
  tsReadBuffer(meta: string, ...args: Arg[]): Promise<(number | Buffer | null)[]>;
  /** lua/tally.lua, replies as Buffers: {end, ids..., packed values}. */
  tsTallyBuffer(meta: string, ...args: Arg[]): Promise<(number | Buffer)[]>;
  /** lua/user.lua: {} or {value, names...}, as Buffers. */
  tsUserBuffer(meta: string, ...args: Arg[]): Promise<Buffer[]>;
  /** lua/erase.lua: entries removed. */
  tsErase(meta: string, ...args: Arg[]): Promise<number>;
  /** lua/reserve.lua: the level in force (-1: no meta). */
  tsReserve(meta: string, level: number): Promise<number>;
  /** lua/sentinel.lua: 0..3, see its header. */
  tsSentinel(sentinel: string, rebuilding: string, owner: string, ttlMs: number, force: 0 | 1): Promise<number>;
};

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

const SCRIPTS: [command: string, file: string, keys: number][] = [
  ['tsDict', 'dict', 3],
  ['tsWrite', 'write', 2],
  ['tsRead', 'read', 1],
  ['tsTally', 'tally', 1],
  ['tsUser', 'user', 1],
  ['tsErase', 'erase', 1],
  ['tsReserve', 'reserve', 1],
  ['tsSentinel', 'sentinel', 2],
];

/** Registers the project's Lua scripts once, so calls use EVALSHA and reload on NOSCRIPT. */
export function defineCommands(redis: RedisClient): WithCommands {
  const r = redis as unknown as Record<string, unknown>;
  for (const [name, file, numberOfKeys] of SCRIPTS) {
    if (typeof r[name] !== 'function') redis.defineCommand(name, { lua: lua(file), numberOfKeys });
  }
  return redis as WithCommands;
}
