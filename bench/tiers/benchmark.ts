/**
 * Tiers benchmark: one large campaign (1,000,000 interactions over 100,000 users) demoted and
 * restored; the Redis memory a demotion frees; the aggregated restore side by side with
 * replaying the raw events from ClickHouse; ingest throughput with and without a restore
 * running. One random namespace, removed at the end. Method and numbers: bench/README.md.
 *
 * This file runs the phases in order; each has its module here: load-source (setup),
 * demote-restore (the measured cycles), replay-raw (the raw-event baselines),
 * ingest-during-restore, and report (printed lines and tables); state-check and redis-memory
 * are the checks and measurements they share.
 */
import os from 'node:os';
import { pino } from 'pino';
import { createTierstream, type Tierstream } from '../../runtime.js';
import { ENGINE_DEFAULTS } from '../../engine/ingest/index.js';
import { machineBusy } from '../measure.js';
import type { Benchmark } from '../types.js';
import { PREFILL_FLUSH_EVERY, cleanupNamespace, machineInfo, writeResult } from '../namespace.js';
import { SOURCE, TARGET_DEMOTE_SECONDS, TARGET_FREED_SHARE, TARGET_RESTORE_SECONDS, openContext, type Params } from './context.js';
import { demoteAndRestore, instrument, restoreOnce, type Cycle } from './demote-restore.js';
import { fmt } from './format.js';
import { INGEST_POLL_MS, ingestPhase, type IngestResult } from './ingest-during-restore.js';
import { LOAD_CHUNK, loadSource, waitForMerges } from './load-source.js';
import { redisMemory } from './redis-memory.js';
import { RAW_CHUNK, replay, type ReplayResult } from './replay-raw.js';
import { parseSizes, runSizes } from './sizes.js';
import { checkLine, printCycle, printIngest, printReplay, printSummary, summarize } from './report.js';

export const tiers: Benchmark = {
  name: 'tiers',
  question:
    'For a source of 1,000,000 interactions over 100,000 users: how long do a restore from ClickHouse (target <= 5 s) and a ' +
    'demotion (target <= 1 s) take, how much of the source\'s Redis memory does demotion free (target >= 95%), how does the ' +
    'aggregated restore compare with replaying the raw events one by one, and what happens to ingest throughput while a restore runs?',
  options: {
    events: { default: 1_000_000, min: 1, description: 'interactions of the one campaign (loaded into ClickHouse as setup)' },
    users: { default: 100_000, min: 1, description: 'generator: distinct users' },
    variants: { default: 3, min: 0, description: 'generator: variants of the campaign' },
    seed: { default: 1, min: 0, description: 'generator: PRNG seed' },
    runs: { default: 3, min: 1, description: 'demote + restore cycles; medians reported' },
    'replay-events': { default: 100_000, min: 1, description: 'raw events replayed one by one (prefix; time extrapolated to all)' },
    'replay-group': { default: 1_000, min: 1, description: 'pipelined replay: one-event script calls in flight per group' },
    'ingest-events': { default: 600_000, min: 1_000, description: 'events of other campaigns pre-filled for each ingest phase' },
    'chunk-rows': { default: 20_000, min: 1, description: 'restore chunk rows (TierManager restoreChunkRows)' },
  },
  textOptions: {
    sizes: { description: 'comma-separated source sizes in events (100k,1M): per size, restore, demotion, Redis bytes per member and history check/s only (bench/tiers/sizes.ts); --events and --users (events / 10) are then per size' },
  },
  async run(raw, signal, _lists, text) {
    const p: Params = {
      events: raw.events!,
      users: raw.users!,
      variants: raw.variants!,
      seed: raw.seed!,
      runs: raw.runs!,
      replayEvents: raw['replay-events']!,
      replayGroup: raw['replay-group']!,
      ingestEvents: raw['ingest-events']!,
      chunkRows: raw['chunk-rows']!,
    };
    if (text.sizes !== undefined) await runSizes(p, parseSizes(text.sizes), signal, tiers.question);
    else await runTiers(p, signal);
  },
};

async function runTiers(p: Params, signal: AbortSignal): Promise<void> {
  const ctx = await openContext(p, signal);
  const { ns, config } = ctx;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; source ${SOURCE.kind}:${SOURCE.id}; ${os.cpus().length} CPUs, node ${process.version}, ` +
    `load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect slower numbers`);
  }
  let ts: Tierstream | undefined;
  try {
    // The tier manager's scans and Redis-loss check are not started (main.ts starts them):
    // the benchmark makes every transition itself, so nothing else moves the source.
    ts = await createTierstream(config, { tiers: { restoreChunkRows: p.chunkRows }, log: pino({ level: 'warn', base: { ns } }) });
    const stages = instrument(ts);

    // ---- setup: the source in ClickHouse, registered, hot ------------------------------
    console.log(`\nsetup: loading ${fmt(p.events)} events of ${SOURCE.kind}:${SOURCE.id} into ClickHouse (${fmt(p.users)} users, ${p.variants} variants, seed ${p.seed})`);
    const load = await loadSource(ctx);
    console.log(`  loaded in ${load.seconds.toFixed(1)} s (history.insert ${load.insertSeconds.toFixed(1)} s); ClickHouse: ${fmt(load.clickhouse.events)} events, ` +
      `${fmt(load.clickhouse.users)} users, ${fmt(load.clickhouse.aggregateRows)} aggregate rows; OPTIMIZE FINAL ${load.optimizeSeconds.toFixed(1)} s, ${load.parts} part(s)`);
    const { expected } = load;
    if (load.clickhouse.events !== p.events || load.clickhouse.users !== expected.distinctUsers) {
      throw new Error(`ClickHouse holds ${load.clickhouse.events} events and ${load.clickhouse.users} users; expected ${p.events} and ${expected.distinctUsers}`);
    }
    await ts.tiers.setLifecycle(SOURCE, { status: 'active', name: 'tiers benchmark source' });
    // Build the hot state the way production would after a loss: demote the (empty) source,
    // restore it. This first restore also warms ClickHouse's caches; it is reported, not targeted.
    await ts.tiers.demote(SOURCE, 'bench: setup', true);
    await ts.tiers.settled();
    const redisEmpty = await redisMemory(ctx);
    await waitForMerges(ctx);
    const build = await restoreOnce(ctx, ts, stages, expected, 'bench: setup (first restore)');
    console.log(`  first restore (builds the hot state): ${build.seconds.toFixed(3)} s; ${checkLine(build.check)}`);
    if (!build.check.ok) throw new Error('the hot state built by the first restore differs from the generated events');

    // ---- demote + restore cycles -------------------------------------------------------
    const cycles: Cycle[] = [];
    for (let r = 1; r <= p.runs; r++) {
      signal.throwIfAborted();
      await waitForMerges(ctx);
      const cycle = await demoteAndRestore(ctx, ts, stages, expected, r, redisEmpty.usedMemory);
      cycles.push(cycle);
      printCycle(cycle, p.runs, redisEmpty.usedMemory);
    }

    // ---- rebuild by replaying raw events, side by side with the restore ----------------
    const replays: ReplayResult[] = [];
    for (const method of ['one-by-one', 'pipelined', 'folded'] as const) {
      signal.throwIfAborted();
      await waitForMerges(ctx);
      const r = await replay(ctx, method, expected, load.clickhouse.events);
      replays.push(r);
      printReplay(r);
    }

    // ---- ingest without and with a restore running -----------------------------------
    const ingestRuns: IngestResult[] = [];
    for (const withRestore of [false, true]) {
      signal.throwIfAborted();
      if (withRestore) {
        await ts.tiers.demote(SOURCE, 'bench: before ingest with restore', true);
        await ts.tiers.settled();
      }
      await waitForMerges(ctx);
      const r = await ingestPhase(ctx, withRestore, expected, ingestRuns.length);
      ingestRuns.push(r);
      printIngest(r);
    }

    const summary = summarize(cycles, ingestRuns);
    printSummary(ctx, build, summary, replays, ingestRuns);
    const file = writeResult('tiers', startedAt, {
      benchmark: 'tiers',
      question: tiers.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      source: SOURCE,
      parameters: p,
      settings: {
        loadChunk: LOAD_CHUNK,
        rawChunk: RAW_CHUNK,
        ingestPollMs: INGEST_POLL_MS,
        prefillFlushEvery: PREFILL_FLUSH_EVERY,
        engine: ENGINE_DEFAULTS,
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      setup: {
        loadSeconds: load.seconds,
        insertSeconds: load.insertSeconds,
        optimizeSeconds: load.optimizeSeconds,
        parts: load.parts,
        clickhouse: load.clickhouse,
        expected: { distinctUsers: expected.distinctUsers, indexes: expected.digest.size, members: expected.members },
        redisUsedMemoryWithSourceEmpty: redisEmpty,
        firstRestore: build,
      },
      cycles,
      replays,
      ingest: ingestRuns,
      summary,
      targets: {
        restoreSeconds: { target: TARGET_RESTORE_SECONDS, actual: summary.restoreSeconds, met: summary.restoreSeconds <= TARGET_RESTORE_SECONDS },
        demoteSeconds: { target: TARGET_DEMOTE_SECONDS, actual: summary.demoteSeconds, met: summary.demoteSeconds <= TARGET_DEMOTE_SECONDS },
        freedShare: { target: TARGET_FREED_SHARE, actual: summary.freedShareByUsedMemory, met: summary.freedShareByUsedMemory >= TARGET_FREED_SHARE },
      },
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await ts?.close().catch((err) => console.error(`bench: closing tierstream failed: ${(err as Error).message}`));
    await cleanupNamespace(ctx);
  }
}
