/**
 * Redis time by command over a phase, from INFO commandstats on every master (Redis's own
 * measure of each command's execution; every client counts, so during a drain the engine's
 * writes are there beside the lookups' reads). Redis runs commands one at a time: a long
 * ingest script delays every ZMSCORE queued behind it.
 */
import { masters } from '../namespace.js';
import { round } from '../measure.js';
import type { Ctx } from './context.js';

export type CommandStats = Map<string, { calls: number; usec: number }>;

export interface CommandUse { calls: number; usec: number; usecPerCall: number }

/** INFO commandstats of every master, summed per command. */
export async function redisCommandStats(ctx: Ctx): Promise<CommandStats> {
  const out: CommandStats = new Map();
  for (const node of masters(ctx)) {
    for (const m of (await node.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
      const prev = out.get(m[1]!) ?? { calls: 0, usec: 0 };
      out.set(m[1]!, { calls: prev.calls + Number(m[2]), usec: prev.usec + Number(m[3]) });
    }
  }
  return out;
}

/** Commands that ran between two snapshots, most Redis time first. */
export function redisCommandDelta(before: CommandStats, after: CommandStats): Record<string, CommandUse> {
  const rows: [string, CommandUse][] = [];
  for (const [cmd, a] of after) {
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    // A counter that went down was reset (CONFIG RESETSTAT) meanwhile: nothing to say.
    if (calls > 0 && a.usec >= b.usec) rows.push([cmd, { calls, usec: a.usec - b.usec, usecPerCall: round((a.usec - b.usec) / calls, 1) }]);
  }
  return Object.fromEntries(rows.sort((x, y) => y[1].usec - x[1].usec));
}
