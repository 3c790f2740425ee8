/**
 * SLOWLOG per phase, with each EVALSHA named by its script (the SHA1 of storage/redis/lua/*.lua,
 * as ioredis's defineCommand sends it) and a distribution, so tierstream's own calls are told
 * apart from the benchmark's whole-key reads and writes (MEMORY USAGE, HGETALL, ZADD, UNLINK).
 * With it, INFO commandstats deltas: how many calls each command made in the phase, so a count
 * over the threshold is read as a share of the calls.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Upper bounds of the distribution's classes, µs (the last class is everything above). */
const CLASSES_US = [1_000, 2_000, 5_000, 10_000];
const CLASS_NAMES = ['0.5-1 ms', '1-2 ms', '2-5 ms', '5-10 ms', '>=10 ms'];
const MAX_LEN = 100_000;
/** Commands of O(1) work when given one field (see PhaseSlowlog.preemptionUs). */
const SINGLE = new Set(['HGET', 'HSET', 'GET', 'SET', 'DEL', 'HMGET', 'EXISTS', 'PING']);

/** sha1 -> script file name, for every script tierstream registers. */
const SCRIPTS = new Map(
  readdirSync(new URL('../../storage/redis/lua/', import.meta.url))
    .filter((f) => f.endsWith('.lua'))
    .map((f) => [createHash('sha1').update(readFileSync(new URL(`../../storage/redis/lua/${f}`, import.meta.url), 'utf8')).digest('hex'), f]),
);

export interface CallClass {
  /** Entries at or over the threshold. */
  over: number;
  maxUs: number;
  /** Counts per class (0.5-1, 1-2, 2-5, 5-10, >=10 ms). */
  distribution: Record<string, number>;
  /** The longest few, µs. */
  longestUs: number[];
}

export interface PhaseSlowlog {
  phase: string;
  thresholdUs: number;
  /** tierstream's calls: EVALSHA by script file. */
  tierstream: Record<string, CallClass>;
  /** The benchmark's own commands on its keys (whole-key reads and writes), and tierstream's plain commands, by command. */
  other: Record<string, CallClass>;
  /**
   * Commands on keys of no namespace of this run: other clients of the shared Redis (other
   * engineers' tests). Left out of the figures above; their count says how shared Redis was.
   */
  foreign: { over: number; maxUs: number };
  /**
   * The longest single-field command of the phase (HGET, HSET, GET, SET, DEL of one key, any
   * client): such a command does microseconds of work, so its SLOWLOG time is the scale of the
   * scheduler's preemptions of Redis in that phase, the yardstick for telling a script's own
   * slowness from an outlier the machine added.
   */
  preemptionUs: number;
  /** Calls per command over the phase, any client (INFO commandstats delta; EVALSHA all scripts together). */
  calls: Record<string, { calls: number; usecPerCall: number }>;
  truncated: boolean;
}

function commandstats(info: string): Map<string, { calls: number; usec: number }> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

/** Lowers the slowlog threshold on the (standalone) Redis; `restore()` puts the settings back. */
export async function slowlogSession(redis: Redis, thresholdUs: number, namespaces: readonly string[]) {
  const ours = (key: unknown) => typeof key === 'string' && namespaces.some((ns) => key.startsWith(`${ns}:`));
  const [, slower] = (await redis.config('GET', 'slowlog-log-slower-than')) as string[];
  const [, len] = (await redis.config('GET', 'slowlog-max-len')) as string[];
  await redis.config('SET', 'slowlog-log-slower-than', String(thresholdUs));
  await redis.config('SET', 'slowlog-max-len', String(MAX_LEN));
  return {
    saved: { slower, len },
    /** Starts a phase: resets the log; the returned stop() reads it. */
    async phase(name: string): Promise<{ stop(): Promise<PhaseSlowlog> }> {
      await redis.slowlog('RESET');
      const before = commandstats(await redis.info('commandstats'));
      return {
        async stop() {
          const entries = (await redis.slowlog('GET', MAX_LEN)) as [number, number, number, string[]][];
          const after = commandstats(await redis.info('commandstats'));
          const tierstream: Record<string, CallClass> = {};
          const other: Record<string, CallClass> = {};
          const foreign = { over: 0, maxUs: 0 };
          let preemptionUs = 0;
          for (const [, , usec, argv] of entries) {
            const command = String(argv[0]).toUpperCase();
            // SLOWLOG's own and CONFIG/INFO of this session are not phase work.
            if (command === 'SLOWLOG' || command === 'CONFIG' || command === 'INFO') continue;
            if (SINGLE.has(command) && argv.length <= 4) preemptionUs = Math.max(preemptionUs, usec);
            // EVALSHA sha numkeys key...: the first key; other commands: their first argument.
            if (!ours(command === 'EVALSHA' || command === 'EVAL' ? argv[3] : argv[1])) {
              foreign.over++;
              foreign.maxUs = Math.max(foreign.maxUs, usec);
              continue;
            }
            const [into, key] = command === 'EVALSHA' ? [tierstream, SCRIPTS.get(String(argv[1])) ?? `EVALSHA ${String(argv[1]).slice(0, 8)}`] : [other, command];
            const c = (into[key] ??= { over: 0, maxUs: 0, distribution: Object.fromEntries(CLASS_NAMES.map((n) => [n, 0])), longestUs: [] });
            c.over++;
            c.maxUs = Math.max(c.maxUs, usec);
            const k = CLASSES_US.findIndex((b) => usec < b);
            c.distribution[CLASS_NAMES[k < 0 ? CLASSES_US.length : k]!]!++;
            c.longestUs.push(usec);
          }
          for (const c of [...Object.values(tierstream), ...Object.values(other)]) c.longestUs = c.longestUs.sort((a, b) => b - a).slice(0, 5);
          const calls: PhaseSlowlog['calls'] = {};
          for (const [cmd, a] of after) {
            const b = before.get(cmd) ?? { calls: 0, usec: 0 };
            const n = a.calls - b.calls;
            if (n > 0 && !['slowlog', 'config', 'info'].includes(cmd)) calls[cmd] = { calls: n, usecPerCall: Math.round(((a.usec - b.usec) / n) * 10) / 10 };
          }
          return { phase: name, thresholdUs, tierstream, other, foreign, preemptionUs, calls, truncated: entries.length >= MAX_LEN };
        },
      };
    },
    async restore() {
      await redis.config('SET', 'slowlog-log-slower-than', slower!);
      await redis.config('SET', 'slowlog-max-len', len!);
    },
  };
}

/** The longest tierstream call of the phases, with its script. */
export function longestTierstreamCall(phases: readonly PhaseSlowlog[]): { us: number; script: string; phase: string } | null {
  let best: { us: number; script: string; phase: string } | null = null;
  for (const p of phases) for (const [script, c] of Object.entries(p.tierstream)) if (!best || c.maxUs > best.us) best = { us: c.maxUs, script, phase: p.phase };
  return best;
}

/** One line: "walk.lua 12 (max 1.8 ms; 1-2 ms: 3)". */
export function formatPhase(p: PhaseSlowlog): string {
  const fmt = (r: Record<string, CallClass>) =>
    Object.entries(r).map(([k, c]) => `${k} ${c.over} (max ${(c.maxUs / 1000).toFixed(2)} ms; ${Object.entries(c.distribution).filter(([, n]) => n).map(([d, n]) => `${d}: ${n}`).join(', ')})`).join('; ') || 'none';
  const ev = p.calls.evalsha;
  return `tierstream calls >= ${p.thresholdUs} us: ${fmt(p.tierstream)} | ours, other commands: ${fmt(p.other)} | ` +
    `EVALSHA calls ${ev?.calls ?? 0} (mean ${ev?.usecPerCall ?? '-'} us); single-field commands up to ${(p.preemptionUs / 1000).toFixed(2)} ms (preemption scale); ` +
    `other clients ${p.foreign.over} over${p.truncated ? ' (log full)' : ''}`;
}
