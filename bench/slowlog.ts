import type { Redis } from 'ioredis';

/** What Redis's SLOWLOG saw during a phase: how long the longest commands kept Redis busy. */
export interface SlowlogSummary {
  /** Threshold in microseconds: commands at least this long were logged. */
  thresholdUs: number;
  /** Commands logged (at most the log's length, 10_000). */
  logged: number;
  /** Longest first: duration (us), command, argument count. */
  longest: { us: number; command: string; args: number }[];
  /** Logged commands by name: count and max us. */
  byCommand: Record<string, { count: number; maxUs: number }>;
}

/** Starts recording commands of at least `thresholdUs` (a standalone Redis; restores nothing). */
export async function startSlowlog(redis: Redis, thresholdUs = 1_000): Promise<void> {
  await redis.config('SET', 'slowlog-log-slower-than', String(thresholdUs));
  await redis.config('SET', 'slowlog-max-len', '10000');
  await redis.slowlog('RESET');
}

export async function readSlowlog(redis: Redis, thresholdUs = 1_000): Promise<SlowlogSummary> {
  const entries = (await redis.slowlog('GET', 10_000)) as [number, number, number, string[]][];
  const byCommand: SlowlogSummary['byCommand'] = {};
  const all = entries.map(([, , us, args]) => ({ us: Number(us), command: String(args[0]).toLowerCase(), args: args.length - 1 }));
  for (const e of all) {
    const c = (byCommand[e.command] ??= { count: 0, maxUs: 0 });
    c.count++;
    c.maxUs = Math.max(c.maxUs, e.us);
  }
  return { thresholdUs, logged: all.length, longest: all.sort((a, b) => b.us - a.us).slice(0, 5), byCommand };
}
