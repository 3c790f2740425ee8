/**
 * The longest single commands Redis ran over a phase, from SLOWLOG on every master: Redis's
 * own measure of one command's (or script's) execution, without network or queueing. Redis runs
 * one command at a time, so the longest one is the longest a lookup can wait behind it. The
 * window lowers `slowlog-log-slower-than` to `thresholdUs` and restores both settings at the end.
 */
import type { Cluster, Redis } from 'ioredis';
import { masters } from './namespace.js';

export interface SlowCommand { usec: number; command: string }

export interface SlowlogSummary {
  thresholdUs: number;
  /** Commands that took at least the threshold, by command name (EVALSHA counts as one name). */
  over: Record<string, number>;
  /** The longest of each command name, µs. */
  maxByCommand: Record<string, number>;
  /** The longest ones, longest first (at most 5). */
  longest: SlowCommand[];
  /** SLOWLOG kept at most its length per master: more were over the threshold than counted. */
  truncated: boolean;
}

const MAX_LEN = 10_000;

export async function slowlogWindow(ctx: { redis: Redis | Cluster }, thresholdUs = 1_000): Promise<{ stop(): Promise<SlowlogSummary> }> {
  const nodes = masters(ctx);
  const saved = await Promise.all(nodes.map(async (n) => {
    const [, slower] = (await n.config('GET', 'slowlog-log-slower-than')) as string[];
    const [, len] = (await n.config('GET', 'slowlog-max-len')) as string[];
    await n.config('SET', 'slowlog-log-slower-than', String(thresholdUs));
    await n.config('SET', 'slowlog-max-len', String(MAX_LEN));
    await n.slowlog('RESET');
    return { slower: slower!, len: len! };
  }));
  return {
    async stop() {
      const over: Record<string, number> = {};
      const maxByCommand: Record<string, number> = {};
      const all: SlowCommand[] = [];
      let truncated = false;
      for (const [i, n] of nodes.entries()) {
        const entries = (await n.slowlog('GET', MAX_LEN)) as [number, number, number, string[]][];
        truncated ||= entries.length >= MAX_LEN;
        for (const [, , usec, argv] of entries) {
          const command = String(argv[0]).toUpperCase();
          over[command] = (over[command] ?? 0) + 1;
          maxByCommand[command] = Math.max(maxByCommand[command] ?? 0, usec);
          all.push({ usec, command });
        }
        await n.config('SET', 'slowlog-log-slower-than', saved[i]!.slower);
        await n.config('SET', 'slowlog-max-len', saved[i]!.len);
      }
      return { thresholdUs, over, maxByCommand, longest: all.sort((a, b) => b.usec - a.usec).slice(0, 5), truncated };
    },
  };
}

export const formatSlowlog = (s: SlowlogSummary): string =>
  `${Object.entries(s.over).map(([c, n]) => `${n} x ${c} (longest ${s.maxByCommand[c]} us)`).join(', ') || 'none'} at or over ${s.thresholdUs} us` +
  (s.truncated ? ' (log full: more than counted)' : '');
