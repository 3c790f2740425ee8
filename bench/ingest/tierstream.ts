/**
 * (b) tierstream as `npm start` runs it: `node --import tsx main.ts`, role `all`, with
 * TIERSTREAM_ENGINE_PROCESSES ingest children sharing the durable consumer (and the api
 * child), from a fresh consumer and empty stores, draining the pre-filled stream. The clock
 * runs from the moment the engine's consumer exists (the engines create it as they start
 * consuming; the stream is full by then) until it shows num_pending 0 and num_ack_pending 0
 * and ClickHouse holds every row. CPU per process over that window; the ingest processes'
 * peak RSS (VmHWM) at the end.
 */
import { readFileSync } from 'node:fs';
import { natsNames } from '../../storage/nats/index.js';
import { round } from '../measure.js';
import { destroyKvBuckets, redisKeys, until } from '../namespace.js';
import { freePort, spawnTierstream } from '../lookups/tierstream-process.js';
import { POLL_MS, type Ctx } from './context.js';
import { cpuWindow, readCpu, type CpuReading, type CpuWindow } from './cpu.js';

/** Warn-level log lines kept in the result. */
const WARNINGS_KEPT = 10;

export interface TierstreamResult {
  phase: string;
  processes: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** From spawn to the clock's start (the consumer created), s: process start-up, not timed. */
  startSeconds: number;
  /** Peak RSS (VmHWM) of each ingest process, MiB, and the largest. */
  peakRssMiB: number[];
  maxPeakRssMiB: number;
  cpu: CpuWindow;
  /** From tierstream's /metrics at the end (every process summed), or the error reading it. */
  engine: EngineMetrics | { error: string };
  check: { clickhouseRows: number; clickhouseDistinctIds: number; deadLetters: number; redisKeys: number; ok: boolean };
  stop: { code: number | null; signal: string | null; seconds: number };
  warnings: { count: number; last: string[] };
}

/**
 * Drains the stream's `events` messages with `processes` ingest processes; throws when
 * tierstream fails. `alone`: one process of role `engine` instead (no supervisor, no API, nice
 * 0): ingest as it ran before the process split, the split's baseline.
 */
export async function runTierstream(ctx: Ctx, processes: number, events: number, label: string, alone = false): Promise<TierstreamResult> {
  const names = natsNames(ctx.ns);
  await resetStores(ctx);
  const env = {
    TIERSTREAM_NAMESPACE: ctx.ns,
    TIERSTREAM_ENGINE_PROCESSES: String(processes),
    TIERSTREAM_ENGINE_NICE: String(ctx.p.engineNice),
    TIERSTREAM_BATCH_SIZE: String(ctx.p.batchSize),
    TIERSTREAM_BATCH_WAIT_MS: String(ctx.p.batchWaitMs),
    TIERSTREAM_LOOKUP_TARGET_MS: String(ctx.p.lookupTargetMs),
  };
  const t0Spawn = performance.now();
  const ts = spawnTierstream(env, await freePort(), { role: alone ? 'engine' : 'all' });
  try {
    const watched = () => alone ? { engine1: [ts.pids.engine], ...ctx.services } : ({
      supervisor: [ts.pids.supervisor],
      ...Object.fromEntries(ts.pids.engines.map((pid, i) => [`engine${i + 1}`, [pid]])),
      api: ts.pids.api ? [ts.pids.api] : [],
      ...ctx.services,
    });
    const alive = () => {
      if (ts.exited()) throw new Error(`tierstream exited during ${label}:\n${ts.warnings.slice(-WARNINGS_KEPT).join('\n')}`);
    };
    // The clock starts once the consumer exists and every ingest process is known.
    let t0 = 0;
    let cpu0: CpuReading | undefined;
    await until(ctx, `${label}: start`, 10, async () => {
      alive();
      if (ts.pids.engines.length < processes) return { done: false, progress: 0 };
      const exists = await ctx.jsm.consumers.info(names.stream, names.consumer).then(() => true, () => false);
      if (exists) (t0 = performance.now()), (cpu0 = readCpu(watched()));
      return { done: exists, progress: 0 };
    });
    await until(ctx, label, POLL_MS, async () => {
      alive();
      const info = await ctx.jsm.consumers.info(names.stream, names.consumer);
      const progress = info.ack_floor.stream_seq;
      // Acks follow the ClickHouse insert, so the count is only a confirmation; asking it on
      // every poll would put ClickHouse queries on the cores being measured.
      if (info.num_pending > 0 || info.num_ack_pending > 0) return { done: false, progress };
      return { done: (await countRows(ctx)).rows >= events, progress };
    });
    const t1 = performance.now();
    const cpu1 = readCpu(watched());
    const peakRssMiB = ts.pids.engines.map(peakRss);
    const { rows, ids } = await countRows(ctx);
    const deadLetters = (await ctx.jsm.streams.info(names.dlqStream)).state.messages;
    // The API child serves /metrics by now (it listens within seconds; the drain takes longer).
    const engine = await engineMetrics(ts.baseUrl).catch((err: Error) => ({ error: err.message }));
    const stop = await ts.stop();
    if (stop.code !== 0) throw new Error(`tierstream exited ${stop.signal ?? stop.code} on SIGTERM, not 0:\n${ts.warnings.slice(-WARNINGS_KEPT).join('\n')}`);
    const seconds = (t1 - t0) / 1000;
    return {
      phase: label,
      processes,
      events,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(events / seconds),
      startSeconds: round((t0 - t0Spawn) / 1000, 2),
      peakRssMiB,
      maxPeakRssMiB: Math.max(...peakRssMiB),
      cpu: cpuWindow(cpu0!, cpu1, events),
      engine,
      check: {
        clickhouseRows: rows,
        clickhouseDistinctIds: ids,
        deadLetters,
        redisKeys: await redisKeys(ctx, false),
        ok: rows === events && ids === events && deadLetters === 0,
      },
      stop,
      warnings: { count: ts.warnings.length, last: ts.warnings.slice(-WARNINGS_KEPT) },
    };
  } finally {
    if (!ts.exited()) await ts.stop();
  }
}

export interface EngineMetrics {
  batches: number;
  meanBatchSize: number;
  /** Mean time from a batch's close to its settling (queueing behind other batches included), s. */
  meanBatchSeconds: number;
  redeliveries: number;
  writeFailures: number;
  pressureSignals: number;
}

/** The batch figures of tierstream's Prometheus text (GET /metrics sums every process). */
async function engineMetrics(baseUrl: string): Promise<EngineMetrics> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const values = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) values.set(m[1]!, (values.get(m[1]!) ?? 0) + Number(m[2]));
  }
  const v = (name: string) => values.get(name) ?? 0;
  const batches = v('tierstream_batch_size_count');
  return {
    batches,
    meanBatchSize: round(v('tierstream_batch_size_sum') / Math.max(1, batches)),
    meanBatchSeconds: round(v('tierstream_batch_write_seconds_sum') / Math.max(1, v('tierstream_batch_write_seconds_count')), 3),
    redeliveries: v('tierstream_redeliveries_total'),
    writeFailures: v('tierstream_batch_write_failures_total'),
    pressureSignals: v('tierstream_lookup_pressure_signals_total'),
  };
}

/** A process's peak resident set so far (VmHWM in /proc/<pid>/status), MiB; NaN where unreadable. */
function peakRss(pid: number): number {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? NaN : round(Number(kb) / 1024, 1);
  } catch {
    return NaN;
  }
}

async function countRows(ctx: Ctx): Promise<{ rows: number; ids: number }> {
  try {
    const [r] = await ctx.history.select<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(id) AS ids FROM ${ctx.history.db}.events`);
    return { rows: Number(r?.rows ?? 0), ids: Number(r?.ids ?? 0) };
  } catch (err) {
    // The table appears when the first engine migrates.
    if (/doesn't exist|UNKNOWN_TABLE|UNKNOWN_DATABASE/i.test(String((err as Error).message))) return { rows: 0, ids: 0 };
    throw err;
  }
}

/** Empties what a tierstream run writes and removes its consumer: ClickHouse database, KV buckets, Redis keys, dead letters. */
async function resetStores(ctx: Ctx): Promise<void> {
  const names = natsNames(ctx.ns);
  await ctx.history.dropDatabase();
  await destroyKvBuckets(ctx);
  await redisKeys(ctx, true);
  await ctx.jsm.consumers.delete(names.stream, names.consumer).catch(() => false);
  await ctx.jsm.streams.purge(names.dlqStream);
}
