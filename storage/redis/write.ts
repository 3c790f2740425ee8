import type { Gate, SourceFold, SourceRef } from '../../core/index.js';
import type { WithCommands } from './commands.js';
import { sourceKeys } from './keys.js';

/**
 * The write path: folds merged into the hot index by lua/apply.lua, and the tier gate that
 * script checks (in the same call, so a source is written only while its gate is open);
 * history folds loaded by restores and rebuilds with plain ZADD GT.
 */

/**
 * Applies folds as script calls of at most `maxArgs` values, at most `maxInFlight` of them
 * sent at a time (the rest wait for one to answer), so a lookup arriving meanwhile waits
 * behind at most that many short scripts in Redis. A source split into several calls has its
 * gate checked by each; the gate can only close between calls (demotion), never reopen, so a
 * source applied only in part means "demoting started meanwhile".
 */
export async function apply(redis: WithCommands, ns: string, folds: readonly SourceFold[], maxArgs: number, maxInFlight = Infinity): Promise<void> {
  const calls = folds.flatMap((fold) => callsFor(redis, ns, fold, maxArgs));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls.length) await calls[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(maxInFlight, calls.length) }, worker));
}

/**
 * One source's fold as script calls (not yet sent) of at most `maxArgs` values each (a member
 * and its score are two). Each index key gets one ARGV string, `score member score member ...`
 * (user ids have no spaces), split by the script: one argument per index instead of two per
 * member costs ioredis a fraction of the encoding (measured: bench/README.md, ingest).
 */
function callsFor(redis: WithCommands, ns: string, fold: SourceFold, maxArgs: number): (() => Promise<number>)[] {
  const k = sourceKeys(ns, fold.source);
  const calls: (() => Promise<number>)[] = [];
  let keys: string[] = [];
  let args: string[] = [];
  let values = 0;
  const flush = () => {
    if (keys.length === 0) return;
    const callKeys = keys;
    const callArgs = args;
    calls.push(() => redis.tsApply(callKeys.length + 2, k.tier, k.keys, ...callKeys, ...callArgs));
    keys = [];
    args = [];
    values = 0;
  };
  for (const [name, users] of fold.indexes) {
    // Joined once per run, not concatenated per member: a string grown pair by pair is a rope
    // that costs a flatten and Buffer.byteLength when ioredis writes it (measured offline on
    // 1.1M members: about 1.1 s of CPU grown, 0.3 s joined; bench/README.md, "Restore: where the time went").
    let run: (string | number)[] = [];
    const close = () => {
      if (run.length === 0) return;
      keys.push(k.index(name));
      args.push(run.join(' '));
      run = [];
    };
    for (const [user, time] of users) {
      // A call is full when one more pair would pass maxArgs: close this index's run in it.
      if (values + 2 > maxArgs) {
        close();
        flush();
      }
      run.push(time, user);
      values += 2;
    }
    close();
  }
  flush();
  return calls;
}

/**
 * Merges a history fold into a source's indexes with plain variadic `ZADD key GT`, at most
 * `maxArgs` values (maxArgs / 2 members) per command and `maxInFlight` commands sent at a time:
 * each is bounded like an ingest script call, and costs Redis about half of one (no Lua
 * argument copies; bench/README.md). GT keeps the larger time, so an event ingested meanwhile
 * is never overwritten by older history, and repeating a load (a resumed restore) changes
 * nothing. The index keys are added to the source's key list before any of them is written,
 * so a demotion finds them. No gate check: see the restore in README "Tiers: how they work".
 */
export async function load(redis: WithCommands, ns: string, fold: SourceFold, maxArgs: number, maxInFlight = Infinity): Promise<void> {
  const k = sourceKeys(ns, fold.source);
  const names = [...fold.indexes.keys()].map((name) => k.index(name));
  for (let i = 0; i < names.length; i += maxArgs) await redis.sadd(k.keys, ...names.slice(i, i + maxArgs));
  const calls: (() => Promise<unknown>)[] = [];
  const perCall = Math.max(2, maxArgs - (maxArgs % 2));
  for (const [name, users] of fold.indexes) {
    const key = k.index(name);
    let args: (string | number)[] = [];
    for (const [user, time] of users) {
      args.push(time, user);
      if (args.length >= perCall) {
        const a = args;
        calls.push(() => redis.zadd(key, 'GT', ...a));
        args = [];
      }
    }
    if (args.length) {
      const a = args;
      calls.push(() => redis.zadd(key, 'GT', ...a));
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls.length) await calls[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(maxInFlight, calls.length) }, worker));
}

/** Sets the tier gate the write path checks; null opens it (hot). */
export async function setGate(redis: WithCommands, ns: string, source: SourceRef, tier: Gate): Promise<void> {
  const key = sourceKeys(ns, source).tier;
  if (tier === null) await redis.del(key);
  else await redis.set(key, tier);
}
