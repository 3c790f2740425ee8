/**
 * Ingest throughput of a fresh engine draining a pre-filled stream of other sources' events,
 * without and with a restore of the benchmark's source running in the same process.
 */
import { pino } from 'pino';
import { createTierstream } from '../../runtime.js';
import { ENGINE_DEFAULTS, ensureStreams } from '../../engine/ingest/index.js';
import { natsNames } from '../../storage/nats/index.js';
import { generateEvents } from '../../scripts/generate.js';
import { cpuDelta, round, serviceCpu, startPhase, type CpuSnapshot, type PhaseUsage } from '../measure.js';
import { corePublish, until } from '../namespace.js';
import { SOURCE, type Ctx } from './context.js';
import { fmt } from './format.js';
import { checkState, type Check, type Expected } from './state-check.js';

/** How often the ingest phases read the engine's ack counter, ms (in-process, no server query). */
export const INGEST_POLL_MS = 20;

export interface IngestWindow {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  processCpuSeconds: number;
  serviceCpuSeconds: CpuSnapshot;
}

export interface IngestResult extends PhaseUsage {
  withRestore: boolean;
  events: number;
  prefill: { seconds: number; eventsPerSecond: number };
  /** From engine.start() until every event is acknowledged. */
  seconds: number;
  eventsPerSecond: number;
  /** Events acknowledged when the measured window began (engine warmed up). */
  warmupEvents: number;
  /**
   * Without restore: warm-up mark to drained. With restore: from the restore's start until it
   * ended or the backlog was drained, whichever came first (the time both ran).
   */
  window: IngestWindow;
  /** With restore: from the restore's end to drained (when the restore ended first). */
  afterRestore?: IngestWindow;
  restoreSeconds?: number;
  /** With restore: events still unacknowledged when the restore ended (0: the backlog ran out first). */
  backlogLeftAtRestoreEnd?: number;
  restoreCheck?: Check;
  deadLetters: number;
}

/**
 * Publishes `ingestEvents` events of 20 other sources (campaign ids renamed from `c<k>` to
 * `o<k>`, so none is the benchmark's source) by core publish, as bench/ingest/prefill.ts does, and waits
 * until the stream holds them.
 */
async function prefill(ctx: Ctx, phase: number): Promise<{ seconds: number; eventsPerSecond: number }> {
  const { p, nc, jsm } = ctx;
  const names = natsNames(ctx.ns);
  await ensureStreams(jsm, {
    namespace: ctx.ns,
    dedupWindowMs: ENGINE_DEFAULTS.dedupWindowMs,
    maxAgeMs: ENGINE_DEFAULTS.streamMaxAgeMs,
    ackWaitMs: ENGINE_DEFAULTS.ackWaitMs,
    // What engine.start() sets: the same consumer is used unchanged.
    maxAckPending: ENGINE_DEFAULTS.maxInflight,
  });
  const t0 = performance.now();
  const idPrefix = `${ctx.ns.replaceAll('_', '-')}-i${phase}`;
  const generated = generateEvents({
    count: p.ingestEvents, campaigns: 20, users: 200_000, variants: 2, canvasShare: 0.2, seed: p.seed + 1 + phase, idPrefix,
  });
  const n = await corePublish(nc, names.subjectPrefix, generated, ctx.signal, (e) => {
    if (e.campaignId !== undefined) e.campaignId = `o${e.campaignId.slice(1)}`;
  });
  ctx.published += n;
  await until(ctx, 'stream pre-fill', 100, async () => {
    const held = (await jsm.streams.info(names.stream)).state.messages;
    if (held > ctx.published) throw new Error(`stream holds ${held} messages, more than the ${ctx.published} published`);
    return { done: held === ctx.published, progress: held };
  });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: round(seconds, 3), eventsPerSecond: Math.round(n / seconds) };
}

/**
 * A fresh tierstream (role engine, ENGINE_DEFAULTS) drains the pre-filled events. Once it has
 * acknowledged a warm-up share, the window starts; with `withRestore` the same process then
 * restores the (expired) benchmark source, and the window is the restore's run.
 */
export async function ingestPhase(ctx: Ctx, withRestore: boolean, expected: Expected, phase: number): Promise<IngestResult> {
  const { p } = ctx;
  const label = withRestore ? 'with a restore running' : 'without restore';
  console.log(`\ningest ${label}: pre-filling ${fmt(p.ingestEvents)} events of 20 other campaigns`);
  const pre = await prefill(ctx, phase);
  console.log(`  pre-fill: ${pre.seconds.toFixed(2)} s (${fmt(pre.eventsPerSecond)} events/s, core publish)`);
  const ts = await createTierstream(ctx.config, { log: pino({ level: 'warn', base: { ns: ctx.ns } }) });
  try {
    const engine = ts.engine!;
    let failure: unknown;
    engine.done.catch((err) => (failure = err));
    const acked = async () => (await ts.metrics.eventsIngested.get()).values.reduce((s, v) => s + v.value, 0);
    const warmup = Math.min(20_000, Math.floor(p.ingestEvents / 10));
    const N = p.ingestEvents;

    type Mark = { t: number; n: number; cpu: NodeJS.CpuUsage; services: CpuSnapshot };
    const mark = async (): Promise<Mark> => ({ t: performance.now(), n: await acked(), cpu: process.cpuUsage(), services: serviceCpu() });
    const windowOf = (a: Mark, b: Mark): IngestWindow => {
      const seconds = (b.t - a.t) / 1000;
      return {
        events: b.n - a.n,
        seconds: round(seconds, 3),
        eventsPerSecond: Math.round((b.n - a.n) / seconds),
        processCpuSeconds: round((b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6, 2),
        serviceCpuSeconds: cpuDelta(a.services, b.services),
      };
    };

    let start: Mark | undefined;
    let ingestDone: Mark | undefined;
    let restoreEnd: Mark | undefined;
    let restoreDone: Promise<void> | undefined;
    let restoreFailure: unknown;
    const end = startPhase();
    const t0 = performance.now();
    await engine.start();
    await until(ctx, `ingest ${label}`, INGEST_POLL_MS, async () => {
      if (failure) throw failure;
      if (restoreFailure) throw restoreFailure;
      const n = await acked();
      if (!start && n >= warmup) {
        start = await mark();
        if (withRestore) {
          restoreDone = (async () => {
            const { started } = await ts.tiers.restore(SOURCE, 'bench: restore during ingest');
            if (!started) throw new Error('restore during ingest did not start (the source was not expired)');
            await ts.tiers.settled();
            restoreEnd = await mark();
          })().catch((err) => {
            restoreFailure = err;
          });
        }
      }
      if (n >= N && !ingestDone) ingestDone = await mark();
      return { done: n >= N && (!withRestore || restoreEnd !== undefined), progress: n };
    });
    const drained = ingestDone!;
    const seconds = (drained.t - t0) / 1000;
    const usage = end();
    await restoreDone;
    if (!start) throw new Error('ingest never reached its warm-up mark');

    const deadLetters = (await ts.metrics.deadLetters.get()).values.reduce((s, v) => s + v.value, 0);
    // Acks are fire-and-forget: wait, outside the timed part, until the server has taken them all.
    const names = natsNames(ctx.ns);
    await until(ctx, 'server-side acks', 50, async () => {
      const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
      return { done: info.num_pending === 0 && info.num_ack_pending === 0, progress: info.ack_floor.stream_seq };
    });

    const result: IngestResult = {
      withRestore,
      events: N,
      prefill: pre,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(N / seconds),
      warmupEvents: start.n,
      window: windowOf(start, restoreEnd && restoreEnd.t < drained.t ? restoreEnd : drained),
      deadLetters,
      ...usage,
    };
    if (withRestore && restoreEnd) {
      const rec = await ts.registry.get(SOURCE);
      if (rec?.tier !== 'hot') throw new Error(`after the restore during ingest the source is ${rec?.tier ?? 'unknown'}, not hot`);
      result.restoreSeconds = round((restoreEnd.t - start.t) / 1000, 3);
      result.backlogLeftAtRestoreEnd = N - restoreEnd.n;
      if (restoreEnd.t < drained.t) result.afterRestore = windowOf(restoreEnd, drained);
      result.restoreCheck = (await checkState(ts.hot, SOURCE, expected)).check;
    }
    return result;
  } finally {
    await ts.close();
  }
}
