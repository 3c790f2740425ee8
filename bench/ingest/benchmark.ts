/**
 * Ingest benchmark: tierstream end to end against the ceilings of its parts, side by side in
 * one run, on the same pre-filled stream, in a random namespace removed at the end:
 * (a0) a bare consumer acking every message, (a1) the same acking cumulatively, (a2) the
 * stores alone taking the same events in their cheapest form, (b) tierstream as `npm start`
 * runs it with each count of ingest processes; then the flat-memory check, the ingest
 * processes draining backlogs of each size. CPU per event for every process. Method and
 * numbers: bench/README.md.
 *
 * This file runs the phases in order; each has its module here: prefill (the events),
 * ceiling (a0, a1), stores-floor (a2), tierstream (b and the memory check), cpu, report.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { connect } from 'nats';
import { configFromEnv } from '../../config.js';
import { ENGINE_DEFAULTS, ensureStreams } from '../../engine/ingest/index.js';
import { ClickHouseHistory, createRedis } from '../../storage/index.js';
import { machineBusy } from '../measure.js';
import { PREFILL_FLUSH_EVERY, cleanupNamespace, machineInfo, writeResult } from '../namespace.js';
import { drawIngest } from '../charts.js';
import { servicePids } from '../lookups/process-cpu.js';
import type { Benchmark } from '../types.js';
import { POLL_MS, type Ctx, type Params } from './context.js';
import { decodedEvents, fillStream } from './prefill.js';
import { runCeiling } from './ceiling.js';
import { dropFloor, floorNamespace, runStoresFloor } from './stores-floor.js';
import { runTierstream, type TierstreamResult } from './tierstream.js';
import { tierstreamCommand } from '../lookups/tierstream-process.js';
import { printPhase, printSummary, summarize, type Run } from './report.js';

export const ingest: Benchmark = {
  name: 'ingest',
  question:
    'How many events/s does tierstream ingest end to end (JetStream -> decode -> ClickHouse + Redis + registry -> ack), as npm start ' +
    'runs it with 1 and 2 ingest processes, against a bare consumer that parses and acks cumulatively (target >= 0.45x), and what ' +
    'CPU per event does it take against that consumer plus the stores alone taking the same events in bulk (target <= 1.3x)? ' +
    'Is the ingest processes\' peak RSS flat in the backlog size (5M within 10% of 500k)?',
  options: {
    events: { default: 500_000, min: 1, description: 'events pre-filled into the stream and consumed by each phase' },
    runs: { default: 1, min: 1, description: 'runs of every phase, in turn, fresh consumers and stores; medians reported' },
    campaigns: { default: 20, min: 1, description: 'generator: campaigns (a fifth become canvases)' },
    users: { default: 200_000, min: 1, description: 'generator: distinct users' },
    variants: { default: 2, min: 0, description: 'generator: variants per source' },
    seed: { default: 1, min: 0, description: 'generator: PRNG seed' },
    'batch-size': { default: ENGINE_DEFAULTS.batchSize, min: 1, description: 'TIERSTREAM_BATCH_SIZE of (b); (a) pulls as the engine does' },
    'batch-wait-ms': { default: ENGINE_DEFAULTS.batchWaitMs, min: 1, description: 'TIERSTREAM_BATCH_WAIT_MS of (b)' },
    'engine-nice': { default: 10, min: 0, description: 'TIERSTREAM_ENGINE_NICE of (b) (npm start\'s default: 10)' },
    'lookup-target-ms': { default: 5, min: 0, description: 'TIERSTREAM_LOOKUP_TARGET_MS of (b) (npm start\'s default: 5; 0: ingest never yields to lookups)' },
    'ack-every': { default: ENGINE_DEFAULTS.batchSize, min: 1, description: '(a1): messages per cumulative ack (a batch\'s worth)' },
    'insert-rows': { default: 100_000, min: 1, description: '(a2): rows per ClickHouse insert' },
    'zadd-members': { default: 1_000, min: 1, description: '(a2): members per ZADD GT' },
  },
  listOptions: {
    processes: { default: [1, 2], min: 1, description: '(b): TIERSTREAM_ENGINE_PROCESSES of each tierstream phase' },
    'memory-sizes': { default: [500_000, 5_000_000], min: 0, description: 'backlogs drained for the flat-memory check, by the first --processes (0: none)' },
  },
  async run(raw, signal, lists) {
    const p: Params = {
      events: raw.events!,
      runs: raw.runs!,
      processes: lists.processes!,
      memorySizes: lists['memory-sizes']!.filter((n) => n > 0),
      campaigns: raw.campaigns!,
      users: raw.users!,
      variants: raw.variants!,
      seed: raw.seed!,
      batchSize: raw['batch-size']!,
      batchWaitMs: raw['batch-wait-ms']!,
      engineNice: raw['engine-nice']!,
      lookupTargetMs: raw['lookup-target-ms']!,
      ackEvery: raw['ack-every']!,
      insertRows: raw['insert-rows']!,
      zaddMembers: raw['zadd-members']!,
    };
    if (p.engineNice > 19) throw new RangeError('--engine-nice must be at most 19');
    if (ENGINE_DEFAULTS.maxInflight < p.batchSize) throw new RangeError(`--batch-size must be at most the engine's maxInflight (${ENGINE_DEFAULTS.maxInflight})`);
    await runIngest(p, signal);
  },
};

async function runIngest(p: Params, signal: AbortSignal): Promise<void> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const config = configFromEnv({ ...process.env, TIERSTREAM_NAMESPACE: ns });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: Ctx = {
    ns, p, signal, nc,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: ns }),
    clickhouseUrl: config.clickhouseUrl,
    clickhouseCluster: config.clickhouseCluster,
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    // As the engine computes them (engine/ingest/engine.ts).
    pull: Math.min(p.batchSize * 2, ENGINE_DEFAULTS.maxInflight),
    maxAckPending: ENGINE_DEFAULTS.maxInflight,
    services: servicePids(),
  };
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; pull max_messages ${ctx.pull}, max_ack_pending ${ctx.maxAckPending}; ${os.cpus().length} CPUs, node ${process.version}, ` +
    `load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; (b): ${tierstreamCommand()}, role all, engines at nice ${p.engineNice}, TIERSTREAM_LOOKUP_TARGET_MS ${p.lookupTargetMs}, ` +
    `batchSize ${p.batchSize}, batchWaitMs ${p.batchWaitMs}`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect lower numbers`);
  }
  const floorHistory = new ClickHouseHistory({ url: config.clickhouseUrl, cluster: config.clickhouseCluster, database: floorNamespace(ctx) });
  try {
    await ensureStreams(ctx.jsm, {
      namespace: ns,
      dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs,
      maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs,
      ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
      maxAckPending: ctx.maxAckPending,
    });
    const prefill = await fillStream(ctx, p.events, 'e');
    console.log(`pre-fill: ${p.events} events in ${prefill.seconds.toFixed(2)} s (${prefill.eventsPerSecond.toLocaleString('en-US')} events/s, core publish)`);
    // (a2)'s input, decoded once, outside every clock.
    const decoded = decodedEvents(ctx, p.events, 'e');
    const runs: Run[] = [];
    for (let r = 1; r <= p.runs; r++) {
      const label = `run ${r}/${p.runs}`;
      const a0 = await runCeiling(ctx, 'explicit');
      printPhase(label, a0);
      const a1 = await runCeiling(ctx, 'cumulative');
      printPhase(label, a1);
      const a2 = await runStoresFloor(ctx, decoded);
      printPhase(label, a2);
      // Ingest alone in one process (role engine: no supervisor, no API child), beside (b1) in
      // the same run: what the process split costs ingest.
      const alone = p.processes.includes(1) ? await runTierstream(ctx, 1, p.events, '(b0) ingest alone: one process, role engine', true) : undefined;
      if (alone) printPhase(label, alone);
      const b: TierstreamResult[] = [];
      for (const n of p.processes) {
        b.push(await runTierstream(ctx, n, p.events, `(b) tierstream, ${n} ingest process${n > 1 ? 'es' : ''}`));
        printPhase(label, b.at(-1)!);
      }
      runs.push({ a0, a1, a2, ...(alone && { alone }), b });
    }
    decoded.length = 0;

    const memory: TierstreamResult[] = [];
    const memoryFills = [];
    for (const [i, size] of p.memorySizes.entries()) {
      const fill = await fillStream(ctx, size, `m${i}`);
      memoryFills.push(fill);
      console.log(`memory check: pre-filled ${size} events in ${fill.seconds.toFixed(1)} s (${fill.eventsPerSecond.toLocaleString('en-US')} events/s)`);
      const n = p.processes[0]!;
      memory.push(await runTierstream(ctx, n, size, `(m) ${size.toLocaleString('en-US')}-event backlog, ${n} ingest process${n > 1 ? 'es' : ''}`));
      printPhase('memory check', memory.at(-1)!);
    }

    const summary = summarize(runs, memory);
    printSummary(summary, p.runs);
    for (const chart of drawIngest(summary)) console.log(`chart written to ${chart}`);
    const file = writeResult('ingest', startedAt, {
      benchmark: 'ingest',
      question: ingest.question,
      startedAt: startedAt.toISOString(),
      namespace: ns,
      parameters: p,
      settings: {
        pullMaxMessages: ctx.pull,
        maxAckPending: ctx.maxAckPending,
        ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
        prefillFlushEvery: PREFILL_FLUSH_EVERY,
        pollMs: POLL_MS,
        tierstream: { command: tierstreamCommand(), role: 'all', engineNice: p.engineNice, lookupTargetMs: p.lookupTargetMs, logLevel: 'info' },
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      services: ctx.services,
      prefill,
      runs,
      memory: { fills: memoryFills, drains: memory },
      summary,
      targets: summary.targets,
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await cleanupNamespace(ctx, [[`scratch ${floorNamespace(ctx)}`, () => dropFloor(ctx, floorHistory)]]);
    await floorHistory.close();
  }
}
