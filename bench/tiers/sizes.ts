/**
 * `--sizes`: the source at several sizes, one fresh namespace each, measuring what grows with
 * it: restore and demotion (median of `--runs` cycles), the Redis bytes per member, and
 * `check` from history (100 user ids against "sent and not clicked") per second, from the
 * `latest` aggregate as tierstream asks it and, side by side, the same SQL over the raw
 * `events` (what the history path read before the aggregate); the restore once more while
 * ingest drains a backlog of other sources; and the restore ETA the state predicted
 * (`restore.etaSeconds`) against the time the restore really took. No replays. The curves are
 * drawn as SVG into bench/charts/ (bench/README.md shows them).
 */
import { pino } from 'pino';
import { createTierstream, type Tierstream } from '../../runtime.js';
import type { FilterPlan } from '../../core/index.js';
import { queries } from '../../storage/index.js';
import { restoreEtaSeconds } from '../../core/tiers/rules.js';
import { drawSizes } from '../charts.js';
import { ingestPhase } from './ingest-during-restore.js';
import { median, round, table } from '../measure.js';
import { cleanupNamespace, writeResult } from '../namespace.js';
import { SOURCE, openContext, type Ctx, type Params } from './context.js';
import { demoteAndRestore, instrument, restoreOnce } from './demote-restore.js';
import { fmt } from './format.js';
import { loadSource, waitForMerges } from './load-source.js';
import { redisMemory } from './redis-memory.js';
import { formatSlowlog, slowlogWindow, type SlowlogSummary } from '../slowlog.js';

/** How long each history check rate is measured, ms. */
const CHECK_WINDOW_MS = 3_000;
/** User ids per check, as a sender asks at send time. */
const CHECK_USERS = 100;

/** "Sent c0 and did not click it", as the API compiles it. */
const PLAN: FilterPlan = {
  leaves: [
    { source: SOURCE, index: 'e:send', after: -Infinity, before: Infinity },
    { source: SOURCE, index: 'e:click', after: -Infinity, before: Infinity },
  ],
  program: { and: [{ leaf: 0 }, { not: { leaf: 1 } }] },
  sources: [SOURCE],
};

export interface SizeResult {
  events: number;
  users: number;
  aggregateRows: number;
  members: number;
  restoreSeconds: number;
  restoreRuns: number[];
  demoteSeconds: number;
  bytesPerMember: number;
  /** Median share of the source's Redis bytes the demotions freed (MEMORY USAGE of its keys). */
  freedShare: number;
  checksPerSecond: { latest: number; rawEvents: number };
  /** The restore while ingest drained `--ingest-events` of other sources, and ingest's rate meanwhile. */
  underIngest: { restoreSeconds: number; ingestEventsPerSecond: number };
  /**
   * The ETA the state gave at about 25, 50 and 75% progress (the sample nearest each, over all
   * cycles' restores), as the predicted total (elapsed + etaSeconds) over the real total:
   * 1 is exact, above 1 predicted too long. null where no sample came near (a restore shorter
   * than a few progress reports).
   */
  etaAccuracy: { at25: number | null; at50: number | null; at75: number | null; samples: number };
  /**
   * Redis's longest single commands (SLOWLOG, at least 1 ms) during the demote-and-restore
   * cycles, and during the restore under ingest (the engine's applies and the restore's loads).
   */
  slowlog: { cycles: SlowlogSummary; underIngest: SlowlogSummary };
  allChecksOk: boolean;
}

interface EtaSample { progress: number; predictedTotalMs: number; actualTotalMs: number }

/**
 * Reads the source's state every 100 ms while `work` runs, as a client polling GET
 * /v1/campaigns/:id would, and keeps (progress, elapsed + etaSeconds) while it restores; the
 * real total comes from the record once the restore finished.
 */
async function sampleEta(ts: Tierstream, work: () => Promise<void>): Promise<EtaSample[]> {
  const seen: { progress: number; predictedTotalMs: number; startedAt: number }[] = [];
  let running = true;
  const poll = (async () => {
    while (running) {
      // A read that times out (this process's event loop is blocked for seconds by the state
      // checks of a large source) is a missing sample, not a failed run: unhandled, it ended two
      // 5M runs with an uncaught NATS TIMEOUT.
      const rec = await ts.registry.get(SOURCE).catch(() => null);
      const t = Date.now();
      const eta = rec ? restoreEtaSeconds(rec, t) : null;
      if (rec?.restore && eta !== null && rec.restore.progress < 1) {
        seen.push({ progress: rec.restore.progress, predictedTotalMs: t - rec.restore.startedAt + eta * 1000, startedAt: rec.restore.startedAt });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await poll;
  }
  const rec = await ts.registry.get(SOURCE);
  const r = rec?.restore;
  if (!r?.finishedAt) return [];
  return seen.filter((x) => x.startedAt === r.startedAt).map((x) => ({ progress: x.progress, predictedTotalMs: x.predictedTotalMs, actualTotalMs: r.finishedAt! - r.startedAt }));
}

function etaAccuracy(samples: EtaSample[]): SizeResult['etaAccuracy'] {
  const at = (q: number) => {
    const near = samples.filter((s) => Math.abs(s.progress - q) <= 0.15).sort((a, b) => Math.abs(a.progress - q) - Math.abs(b.progress - q))[0];
    return near ? round(near.predictedTotalMs / near.actualTotalMs, 2) : null;
  };
  return { at25: at(0.25), at50: at(0.5), at75: at(0.75), samples: samples.length };
}

/** Parses `100k,1M,2_000_000` into event counts. */
export function parseSizes(text: string): number[] {
  return text.split(',').map((s) => {
    const m = /^(\d[\d_]*)([kKmM]?)$/.exec(s.trim());
    if (!m) throw new Error(`--sizes: "${s}" is not a count like 100k or 1M`);
    const n = Number(m[1]!.replaceAll('_', '')) * ({ k: 1e3, m: 1e6 }[m[2]!.toLowerCase() as 'k' | 'm'] ?? 1);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--sizes: "${s}" is not a positive count`);
    return n;
  });
}

/** Checks per second for CHECK_WINDOW_MS, one at a time, each of CHECK_USERS ids (rotating). */
async function checkRate(ctx: Ctx, sql: (users: string[]) => string, userIds: string[]): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < CHECK_WINDOW_MS) {
    const from = (n * CHECK_USERS) % Math.max(1, userIds.length - CHECK_USERS);
    await ctx.history.select(sql(userIds.slice(from, from + CHECK_USERS)));
    n++;
  }
  return round(n / ((performance.now() - t0) / 1000), 1);
}

async function oneSize(base: Params, events: number, signal: AbortSignal): Promise<SizeResult> {
  const p: Params = { ...base, events, users: Math.max(1, Math.round(events / 10)) };
  const ctx = await openContext(p, signal);
  const { ns, config } = ctx;
  let ts: Tierstream | undefined;
  try {
    const t = (ts = await createTierstream(config, { tiers: { restoreChunkRows: p.chunkRows }, log: pino({ level: 'warn', base: { ns } }) }));
    const stages = instrument(ts);
    console.log(`\nsize ${fmt(events)}: namespace ${ns}, ${fmt(p.users)} users, ${p.variants} variants`);
    const load = await loadSource(ctx);
    await ts.tiers.setLifecycle(SOURCE, { status: 'active', name: 'tiers benchmark source' });
    await ts.tiers.demote(SOURCE, 'bench: setup', true);
    await ts.tiers.settled();
    const redisEmpty = await redisMemory(ctx);
    await waitForMerges(ctx);
    const build = await restoreOnce(ctx, ts, stages, load.expected, 'bench: setup (first restore)');
    let ok = build.check.ok;
    const cycles = [];
    const etaSamples: EtaSample[] = [];
    const cyclesLog = await slowlogWindow(ctx);
    for (let r = 1; r <= p.runs; r++) {
      signal.throwIfAborted();
      await waitForMerges(ctx);
      let c!: Awaited<ReturnType<typeof demoteAndRestore>>;
      etaSamples.push(...(await sampleEta(t, async () => void (c = await demoteAndRestore(ctx, t, stages, load.expected, r, redisEmpty.usedMemory)))));
      ok &&= c.before.ok && c.restore.check.ok && c.equalsBeforeDemotion;
      cycles.push(c);
      console.log(`  cycle ${r}: demotion ${(c.demotion.seconds * 1000).toFixed(1)} ms, restore ${c.restore.seconds.toFixed(3)} s, state ${c.restore.check.ok ? 'ok' : 'DIFFERS'}`);
    }
    const slowCycles = await cyclesLog.stop();
    console.log(`  Redis SLOWLOG during the cycles: ${formatSlowlog(slowCycles)}`);
    const users = [...new Set((await ctx.history.select<{ u: string }>(
      `SELECT DISTINCT user_id AS u FROM ${ns}.latest WHERE ${queries.sourceWhere(SOURCE)} ORDER BY cityHash64(user_id) LIMIT 10000`,
    )).map((r) => r.u))];
    const latestSql = (ids: string[]) => queries.filterUsers(ns, PLAN, { users: ids });
    const rawSql = (ids: string[]) => latestSql(ids).replace(`FROM ${ns}.latest `, `FROM ${ns}.events `);
    const [a, b] = [await ctx.history.select<{ user_id: string }>(latestSql(users.slice(0, CHECK_USERS))), await ctx.history.select<{ user_id: string }>(rawSql(users.slice(0, CHECK_USERS)))];
    ok &&= JSON.stringify(a) === JSON.stringify(b);
    const checksPerSecond = { latest: await checkRate(ctx, latestSql, users), rawEvents: await checkRate(ctx, rawSql, users) };
    console.log(`  history check (${CHECK_USERS} ids): ${checksPerSecond.latest} /s from latest, ${checksPerSecond.rawEvents} /s from raw events`);
    await ts.tiers.demote(SOURCE, 'bench: before ingest with restore', true);
    await ts.tiers.settled();
    await waitForMerges(ctx);
    const ingestLog = await slowlogWindow(ctx);
    const ingest = await ingestPhase(ctx, true, load.expected, 0);
    const slowIngest = await ingestLog.stop();
    console.log(`  Redis SLOWLOG during the restore under ingest: ${formatSlowlog(slowIngest)}`);
    ok &&= ingest.restoreCheck?.ok === true;
    const underIngest = { restoreSeconds: ingest.restoreSeconds ?? NaN, ingestEventsPerSecond: ingest.window.eventsPerSecond };
    console.log(`  restore under ingest: ${underIngest.restoreSeconds.toFixed(3)} s, ingest meanwhile ${fmt(underIngest.ingestEventsPerSecond)} events/s, state ${ingest.restoreCheck?.ok ? 'ok' : 'DIFFERS'}`);
    const before = cycles.map((c) => c.memoryBefore.source);
    return {
      events,
      users: load.expected.distinctUsers,
      aggregateRows: load.clickhouse.aggregateRows,
      members: load.expected.members,
      restoreSeconds: round(median(cycles.map((c) => c.restore.seconds)), 3),
      restoreRuns: cycles.map((c) => c.restore.seconds),
      demoteSeconds: round(median(cycles.map((c) => c.demotion.seconds)), 4),
      bytesPerMember: round(median(before.map((m) => m.bytes / m.members)), 1),
      freedShare: round(median(cycles.map((c) => c.freedShareByKeys)), 4),
      checksPerSecond,
      underIngest,
      etaAccuracy: etaAccuracy(etaSamples),
      slowlog: { cycles: slowCycles, underIngest: slowIngest },
      allChecksOk: ok,
    };
  } finally {
    await ts?.close().catch((err) => console.error(`bench: closing tierstream failed: ${(err as Error).message}`));
    await cleanupNamespace(ctx);
  }
}

/** Runs every size in turn, prints one table, writes the JSON; throws if a state differed. */
export async function runSizes(p: Params, sizes: number[], signal: AbortSignal, question: string): Promise<void> {
  const startedAt = new Date();
  const results: SizeResult[] = [];
  for (const size of sizes) results.push(await oneSize(p, size, signal));
  console.log(`\n${table(
    ['events', 'users', 'aggregate rows', 'members', 'restore s (median)', 'under ingest s', 'demotion ms', 'freed', 'Redis B/member', 'check/s latest', 'check/s raw events', 'x', 'ETA/real 25/50/75%', 'states'],
    results.map((r) => [
      fmt(r.events), fmt(r.users), fmt(r.aggregateRows), fmt(r.members), r.restoreSeconds.toFixed(3), r.underIngest.restoreSeconds.toFixed(3), (r.demoteSeconds * 1000).toFixed(1),
      `${(r.freedShare * 100).toFixed(1)}%`, r.bytesPerMember, r.checksPerSecond.latest, r.checksPerSecond.rawEvents, (r.checksPerSecond.latest / r.checksPerSecond.rawEvents).toFixed(2),
      [r.etaAccuracy.at25, r.etaAccuracy.at50, r.etaAccuracy.at75].map((v) => v ?? '–').join(' / '), r.allChecksOk ? 'ok' : 'DIFFER',
    ]),
  )}`);
  for (const file of drawSizes(results)) console.log(`chart written to ${file}`);
  const file = writeResult('tiers-sizes', startedAt, { benchmark: 'tiers', mode: 'sizes', question, parameters: p, sizes, checkWindowMs: CHECK_WINDOW_MS, checkUsers: CHECK_USERS, results });
  console.log(`\nresult written to ${file}`);
  if (!results.every((r) => r.allChecksOk)) throw new Error('a hot state or a history answer differed from the expected one (see above)');
}

