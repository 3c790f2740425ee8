/**
 * Ingest benchmark: tierstream end to end against the bare JetStream ceiling, side by side in
 * one run, on the same pre-filled stream, in a random namespace that is removed at the end.
 * Method and measured numbers: bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { AckPolicy, DeliverPolicy, connect, headers as natsHeaders, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { Cluster, type Redis } from 'ioredis';
import { pino } from 'pino';
import { configFromEnv, type Config } from '../config.js';
import { createTierstream, type Tierstream } from '../runtime.js';
import { ENGINE_DEFAULTS, ensureStreams, natsNames, type EngineOptions } from '../engine/index.js';
import { ClickHouseHistory, createRedis } from '../storage/index.js';
import { generateEvents } from '../scripts/generate.js';
import { machineBusy, median, round, startPhase, table, type PhaseUsage, timed, type StageTime } from './measure.js';
import type { Benchmark } from './types.js';
import { STALL_MS, cleanupNamespace, destroyKvBuckets, machineInfo, redisKeys, until, writeResult } from './namespace.js';

const TARGET_EVENTS_PER_SECOND = 100_000;
const TARGET_RATIO = 0.7;
/** Core publishes between flushes while pre-filling: the only backpressure core NATS has. */
const PREFILL_FLUSH_EVERY = 4_000;
/** Consumer state poll interval while waiting for the engine to finish, ms. */
const POLL_MS = 50;
/** A phase whose progress stands still this long fails instead of hanging, ms. */

const nanos = (ms: number) => ms * 1_000_000;

interface Params {
  events: number;
  runs: number;
  campaigns: number;
  users: number;
  variants: number;
  seed: number;
  batchSize: number;
  batchWaitMs: number;
  writeConcurrency: number;
  maxInflight: number;
}

interface PhaseResult extends PhaseUsage {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

interface CeilingResult extends PhaseResult {
  /** From consume() to the first message, ms (not in `seconds`). */
  firstMessageMs: number;
}


interface EngineResult extends PhaseResult {
  /** Store calls of the batch writer, summed over batches written concurrently. */
  stages: Record<'registry.ensure' | 'history.insert' | 'hot.apply', StageTime>;
  peakInflight: number;
  clickhouseRows: number;
  clickhouseDistinctIds: number;
  deadLetters: number;
  redisKeys: number;
}

interface Ctx {
  ns: string;
  p: Params;
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The bench's own ClickHouse client: counting rows never borrows the engine's connections. */
  history: ClickHouseHistory;
  redis: Redis | Cluster;
  signal: AbortSignal;
  /** max_messages of the pull, as the engine computes it. */
  pull: number;
  maxAckPending: number;
}

export const ingest: Benchmark = {
  name: 'ingest',
  question:
    'How many events/s does tierstream ingest end to end (JetStream -> decode -> ClickHouse + Redis + registry -> ack), ' +
    'and how close is that to a bare JetStream consumer that only parses and acks the same messages?',
  options: {
    events: { default: 500_000, min: 1, description: 'events pre-filled into the stream and consumed by each phase' },
    runs: { default: 1, min: 1, description: 'runs of (a) and (b), alternating, fresh consumers; medians reported' },
    campaigns: { default: 20, min: 1, description: 'generator: campaigns (a fifth become canvases)' },
    users: { default: 200_000, min: 1, description: 'generator: distinct users' },
    variants: { default: 2, min: 0, description: 'generator: variants per source' },
    seed: { default: 1, min: 0, description: 'generator: PRNG seed' },
    'batch-size': { default: ENGINE_DEFAULTS.batchSize, min: 1, description: 'engine batchSize' },
    'batch-wait-ms': { default: ENGINE_DEFAULTS.batchWaitMs, min: 1, description: 'engine batchWaitMs' },
    'write-concurrency': { default: ENGINE_DEFAULTS.writeConcurrency, min: 1, description: 'engine writeConcurrency' },
    'max-inflight': { default: ENGINE_DEFAULTS.maxInflight, min: 1, description: 'engine maxInflight (max_ack_pending is twice it, as in the engine)' },
  },
  async run(raw, signal) {
    const p: Params = {
      events: raw.events!,
      runs: raw.runs!,
      campaigns: raw.campaigns!,
      users: raw.users!,
      variants: raw.variants!,
      seed: raw.seed!,
      batchSize: raw['batch-size']!,
      batchWaitMs: raw['batch-wait-ms']!,
      writeConcurrency: raw['write-concurrency']!,
      maxInflight: raw['max-inflight']!,
    };
    if (p.maxInflight < p.batchSize) throw new RangeError('--max-inflight must be at least --batch-size (the engine requires it)');
    await runIngest(p, signal);
  },
};

async function runIngest(p: Params, signal: AbortSignal): Promise<void> {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const config = configFromEnv({ ...process.env, TIERSTREAM_NAMESPACE: ns, TIERSTREAM_ROLE: 'engine' });
  const nc = await connect({ servers: config.natsServers, name: `bench-${ns}` });
  const ctx: Ctx = {
    ns, p, config, nc, signal,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    history: new ClickHouseHistory({ url: config.clickhouseUrl, database: ns }),
    redis: createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }),
    pull: Math.min(p.batchSize * 2, p.maxInflight),
    maxAckPending: p.maxInflight * 2,
  };
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(`namespace ${ns}; pull max_messages ${ctx.pull}, maxInflight ${p.maxInflight}, max_ack_pending ${ctx.maxAckPending}, ` +
    `batchSize ${p.batchSize}, batchWaitMs ${p.batchWaitMs}, writeConcurrency ${p.writeConcurrency}; ${os.cpus().length} CPUs, node ${process.version}, ` +
    `load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  const busy = await machineBusy();
  if (busy !== undefined && busy > 0.2) {
    console.log(`warning: ${(busy * 100).toFixed(0)}% of the CPUs were busy in the second before the start: something else uses the machine, expect lower numbers`);
  }
  try {
    const prefilled = await prefill(ctx);
    console.log(`pre-fill: ${p.events} events in ${prefilled.seconds.toFixed(2)} s (${fmtRate(prefilled.eventsPerSecond)} events/s, core publish)`);
    const runs: { ceiling: CeilingResult; tierstream: EngineResult }[] = [];
    for (let r = 1; r <= p.runs; r++) {
      const ceiling = await runCeiling(ctx);
      printPhase(`run ${r}/${p.runs} (a) ceiling`, ceiling);
      const tierstream = await runEngine(ctx);
      printPhase(`run ${r}/${p.runs} (b) tierstream`, tierstream);
      printStages(tierstream);
      runs.push({ ceiling, tierstream });
    }
    const summary = summarize(runs.map((x) => x.ceiling), runs.map((x) => x.tierstream));
    printSummary(ctx, prefilled, summary);
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
      },
      machine: { ...(await machineInfo(ctx, loadAtStart)), cpuBusyBeforeStart: busy },
      prefill: prefilled,
      runs,
      median: summary,
      targets: {
        eventsPerSecond: { target: TARGET_EVENTS_PER_SECOND, actual: summary.tierstream.eventsPerSecond, met: summary.tierstream.eventsPerSecond >= TARGET_EVENTS_PER_SECOND },
        ratio: { target: TARGET_RATIO, actual: summary.ratio, met: summary.ratio >= TARGET_RATIO },
      },
    });
    console.log(`\nresult written to ${file}`);
  } finally {
    await cleanupNamespace(ctx);
  }
}

/** Fills the stream with p.events generated events, by core publish (see README: why not js.publish). */
async function prefill(ctx: Ctx): Promise<{ seconds: number; eventsPerSecond: number }> {
  const { p, nc, jsm } = ctx;
  const names = natsNames(ctx.ns);
  await ensureStreams(jsm, {
    namespace: ctx.ns,
    dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs,
    maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs,
    ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
    maxAckPending: ctx.maxAckPending,
  });
  const t0 = performance.now();
  let n = 0;
  // Event ids allow no '_', the namespace does: the prefix keeps ids unique per bench run.
  const idPrefix = ctx.ns.replaceAll('_', '-');
  const events = generateEvents({
    count: p.events, campaigns: p.campaigns, users: p.users, variants: p.variants, canvasShare: 0.2, seed: p.seed, idPrefix,
  });
  for (const e of events) {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', e.id);
    nc.publish(`${names.subjectPrefix}${e.type}`, JSON.stringify(e), { headers: h });
    if (++n % PREFILL_FLUSH_EVERY === 0) {
      await nc.flush();
      ctx.signal.throwIfAborted();
    }
  }
  await nc.flush();
  await until(ctx, 'stream pre-fill', 100, async () => {
    const held = (await jsm.streams.info(names.stream)).state.messages;
    if (held > p.events) throw new Error(`stream holds ${held} messages, more than the ${p.events} published`);
    return { done: held === p.events, progress: held };
  });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: round(seconds, 3), eventsPerSecond: Math.round(p.events / seconds) };
}

/** (a) A durable pull consumer that JSON-parses and acks every message and writes nothing. */
async function runCeiling(ctx: Ctx): Promise<CeilingResult> {
  const { p, js, jsm, nc } = ctx;
  const stream = natsNames(ctx.ns).stream;
  const name = `${ctx.ns}_ceiling`;
  await jsm.consumers.delete(stream, name).catch(() => false);
  await jsm.consumers.add(stream, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ENGINE_DEFAULTS.ackWaitMs),
    max_ack_pending: ctx.maxAckPending,
  });
  const consumer = await js.consumers.get(stream, name);
  const end = startPhase();
  const tCall = performance.now();
  let first = 0;
  let n = 0;
  let finish!: (err?: Error) => void;
  const finished = new Promise<void>((res, rej) => (finish = (err) => (err ? rej(err) : res())));
  // A callback, not `for await`: nats.js flushes its outbound buffer in a microtask, so an
  // iterator that acks between awaits sends one socket write per ack (about 3x slower here);
  // a callback sees every message of a socket read in one turn, and their acks leave together.
  const messages = await consumer.consume({
    max_messages: ctx.pull,
    callback: (m) => {
      if (n === 0) first = performance.now();
      // The same decoding the engine does before validation, so the ceiling pays for it too.
      JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
      m.ack();
      if (++n === p.events) finish();
    },
  });
  let lastN = 0;
  let lastChange = performance.now();
  const watchdog = setInterval(() => {
    if (n !== lastN) (lastN = n), (lastChange = performance.now());
    if (ctx.signal.aborted) finish(new Error('interrupted'));
    else if (performance.now() - lastChange > STALL_MS) finish(new Error(`ceiling consumer stalled at ${n} of ${p.events} messages`));
  }, 1_000);
  try {
    await finished;
    await nc.flush();
  } finally {
    clearInterval(watchdog);
    messages.stop();
  }
  const t1 = performance.now();
  const usage = end();
  // Acks are fire-and-forget: check the server took every one, outside the timed part.
  await until(ctx, 'ceiling acks', POLL_MS, async () => {
    const info = await jsm.consumers.info(stream, name);
    return { done: info.num_pending === 0 && info.num_ack_pending === 0, progress: info.ack_floor.stream_seq };
  });
  await jsm.consumers.delete(stream, name);
  const seconds = (t1 - first) / 1000;
  return {
    events: n,
    seconds: round(seconds, 3),
    eventsPerSecond: Math.round(n / seconds),
    firstMessageMs: round(first - tCall, 1),
    ...usage,
  };
}

/** (b) tierstream as `npm start` would run it with role engine, from a fresh consumer and empty stores. */
async function runEngine(ctx: Ctx): Promise<EngineResult> {
  const { p, jsm } = ctx;
  const names = natsNames(ctx.ns);
  await resetStores(ctx);
  await jsm.consumers.delete(names.stream, names.consumer).catch(() => false);
  const engineOptions: Partial<EngineOptions> = {
    batchSize: p.batchSize,
    batchWaitMs: p.batchWaitMs,
    writeConcurrency: p.writeConcurrency,
    maxInflight: p.maxInflight,
  };
  const ts = await createTierstream(ctx.config, { engine: engineOptions, log: pino({ level: 'warn', base: { ns: ctx.ns } }) });
  try {
    const engine = ts.engine!;
    const stages = instrument(ts);
    let failure: unknown;
    engine.done.catch((err) => (failure = err));
    let peakInflight = 0;

    const end = startPhase();
    const t0 = performance.now();
    await engine.start();
    await until(ctx, 'tierstream ingest', POLL_MS, async () => {
      if (failure) throw failure;
      peakInflight = Math.max(peakInflight, engine.inflight());
      const info = await jsm.consumers.info(names.stream, names.consumer);
      const progress = info.ack_floor.stream_seq;
      // Acks follow the ClickHouse insert, so the count is only a confirmation; asking it on
      // every poll would put ClickHouse queries on the cores being measured.
      if (info.num_pending > 0 || info.num_ack_pending > 0) return { done: false, progress };
      return { done: (await countRows(ctx)).rows >= p.events, progress };
    });
    const t1 = performance.now();
    const usage = end();

    const { rows, ids } = await countRows(ctx);
    const deadLetters = (await ts.metrics.deadLetters.get()).values.reduce((s, v) => s + v.value, 0);
    const seconds = (t1 - t0) / 1000;
    return {
      events: p.events,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(p.events / seconds),
      ...usage,
      stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { calls: v.calls, seconds: round(v.seconds, 2) }])) as EngineResult['stages'],
      peakInflight,
      clickhouseRows: rows,
      clickhouseDistinctIds: ids,
      deadLetters,
      redisKeys: await redisKeys(ctx, false),
    };
  } finally {
    await ts.close();
  }
}

/**
 * Times the batch writer's store calls by wrapping the store objects the engine was given
 * (the engine holds the same instances), so the engine's code is measured unchanged.
 */
function instrument(ts: Tierstream): EngineResult['stages'] {
  const stages: EngineResult['stages'] = {
    'registry.ensure': { calls: 0, seconds: 0 },
    'history.insert': { calls: 0, seconds: 0 },
    'hot.apply': { calls: 0, seconds: 0 },
  };
  ts.registry.ensure = timed(stages['registry.ensure'], ts.registry.ensure.bind(ts.registry));
  ts.history.insert = timed(stages['history.insert'], ts.history.insert.bind(ts.history));
  ts.hot.apply = timed(stages['hot.apply'], ts.hot.apply.bind(ts.hot));
  return stages;
}

async function countRows(ctx: Ctx): Promise<{ rows: number; ids: number }> {
  try {
    const [r] = await ctx.history.select<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(id) AS ids FROM ${ctx.history.db}.events`);
    return { rows: Number(r?.rows ?? 0), ids: Number(r?.ids ?? 0) };
  } catch (err) {
    // The table appears with the first tierstream of the run.
    if (/doesn't exist|UNKNOWN_TABLE|UNKNOWN_DATABASE/i.test(String((err as Error).message))) return { rows: 0, ids: 0 };
    throw err;
  }
}


/** Empties what a tierstream run writes: ClickHouse database, KV buckets, Redis keys. */
async function resetStores(ctx: Ctx): Promise<void> {
  await ctx.history.dropDatabase();
  await destroyKvBuckets(ctx);
  await redisKeys(ctx, true);
}




interface Summary {
  ceiling: { seconds: number; eventsPerSecond: number; peakRssMiB: number };
  tierstream: { seconds: number; eventsPerSecond: number; peakRssMiB: number };
  /** tierstream events/s over ceiling events/s (medians). */
  ratio: number;
}

function summarize(ceiling: PhaseResult[], tierstream: PhaseResult[]): Summary {
  const med = (rs: PhaseResult[]) => ({
    seconds: round(median(rs.map((r) => r.seconds)), 3),
    eventsPerSecond: Math.round(median(rs.map((r) => r.eventsPerSecond))),
    peakRssMiB: round(median(rs.map((r) => r.peakRssMiB)), 1),
  });
  const a = med(ceiling);
  const b = med(tierstream);
  return { ceiling: a, tierstream: b, ratio: round(b.eventsPerSecond / a.eventsPerSecond, 3) };
}

const fmtRate = (x: number) => Math.round(x).toLocaleString('en-US');
const fmtCpu = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ') || 'not readable';

function printPhase(label: string, r: PhaseResult): void {
  console.log(`${label}: ${r.events} events in ${r.seconds.toFixed(3)} s = ${fmtRate(r.eventsPerSecond)} events/s; ` +
    `peak RSS ${r.peakRssMiB} MiB (at start ${r.startRssMiB})`);
  const main = r.mainThread ? `, main thread on CPU ${r.mainThread.onCpuSeconds.toFixed(2)} s and waiting for a core ${r.mainThread.waitingSeconds.toFixed(2)} s` : '';
  console.log(`  this process CPU ${r.processCpuSeconds.toFixed(2)} s, event loop busy ${(r.eventLoopUtilization * 100).toFixed(0)}%${main}; ` +
    `services CPU: ${fmtCpu(r.serviceCpuSeconds)}${r.otherCpuSeconds !== undefined ? `; anything else ${r.otherCpuSeconds.toFixed(2)} s` : ''}`);
}

function printStages(r: EngineResult): void {
  const s = Object.entries(r.stages).map(([k, v]) => `${k} ${v.calls}x ${v.seconds.toFixed(2)} s`).join(', ');
  console.log(`  store calls (summed over concurrent batches): ${s}; peak inflight ${r.peakInflight}`);
  const ok = r.clickhouseRows === r.events && r.clickhouseDistinctIds === r.events && r.deadLetters === 0;
  console.log(`  check: ClickHouse ${r.clickhouseRows} rows, ${r.clickhouseDistinctIds} distinct ids, ${r.deadLetters} dead letters, ` +
    `${r.redisKeys} Redis keys${ok ? '' : '  <-- expected exactly one row per event and no dead letters'}`);
}

function printSummary(ctx: Ctx, prefilled: { seconds: number; eventsPerSecond: number }, s: Summary): void {
  const { p } = ctx;
  const how = p.runs > 1 ? ` (medians of ${p.runs} runs)` : '';
  console.log(`\nsummary${how}; pull max_messages ${ctx.pull}, maxInflight ${p.maxInflight}\n`);
  console.log(table(['phase', 'events', 'seconds', 'events/s', 'peak RSS MiB'], [
    ['pre-fill (core publish, setup)', p.events, prefilled.seconds.toFixed(3), prefilled.eventsPerSecond, '-'],
    ['(a) ceiling: parse + ack', p.events, s.ceiling.seconds.toFixed(3), s.ceiling.eventsPerSecond, s.ceiling.peakRssMiB],
    ['(b) tierstream end to end', p.events, s.tierstream.seconds.toFixed(3), s.tierstream.eventsPerSecond, s.tierstream.peakRssMiB],
  ]));
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  console.log(`\nratio (b)/(a): ${s.ratio.toFixed(3)}`);
  console.log(`target (b) >= ${fmtRate(TARGET_EVENTS_PER_SECOND)} events/s: ${met(s.tierstream.eventsPerSecond >= TARGET_EVENTS_PER_SECOND)} (${fmtRate(s.tierstream.eventsPerSecond)})`);
  console.log(`target ratio >= ${TARGET_RATIO}: ${met(s.ratio >= TARGET_RATIO)} (${s.ratio.toFixed(3)})`);
}



