/**
 * One measured phase: a load generator in its own process (closed loop: autocannon,
 * http-load.ts; open loop at a fixed rate: open-loop.ts) against one server, the CPU counters
 * of every process read when the generator's measured window starts and ends, and, during a
 * drain, the engine's consumer read every second over the same window.
 */
import { runLoad, type LoadResult } from '../http-load.js';
import { runOpenLoop, type OpenLoopResult } from '../open-loop.js';
import type { LatencyMs } from '../load-child.js';
import { cpuUse, readCpu, type CpuReading, type CpuUse } from './process-cpu.js';
import { drainProgress, sampleConsumer, type ConsumerSample, type DrainProgress } from './backlog.js';
import type { Ctx } from './context.js';
import type { Bodies } from './hot-data.js';
import { redisCommandDelta, redisCommandStats, type CommandStats, type CommandUse } from './redis-commands.js';
import { slowlogWindow, type SlowlogSummary } from '../slowlog.js';

/** Consumer info poll interval during a drain phase, ms. */
const DRAIN_SAMPLE_MS = 1_000;
/** A request not answered this long after it was due counts as an error, ms. */
const OPEN_LOOP_TIMEOUT_MS = 10_000;
/** CPU seconds of processes the benchmark does not know about, above which a phase is not clean. */
export const OTHER_CPU_LIMIT_SECONDS = 1;
/** Processes whose CPU during a drain is given per event acknowledged. */
const INGEST_PROCESSES = ['engine', 'nats', 'redis', 'clickhouse'];

export type ServerName = 'bare Fastify' | 'tierstream';

/**
 * The filters a check is measured with: `existing`, "sent L1 and not clicked L1" (hot-data.ts,
 * the targets' filter); `new`, the new hot leaves (new-leaves.ts).
 */
export const FILTER_NAMES = ['existing', 'new'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

export interface PhaseSpec {
  phase: string;
  server: ServerName;
  loop: 'closed' | 'open';
  /** Open loop: the offered rate, checks/s. */
  rate?: number;
  /** An engine drains a backlog meanwhile: read its consumer. */
  drain?: boolean;
  /** The filter of the checks (absent: existing, as in results before the new leaves). */
  filter?: FilterName;
}

export interface PhaseResult extends PhaseSpec {
  /** Checks answered in the window (any status) and per second. */
  checks: number;
  checksPerSecond: number;
  seconds: number;
  /** Open loop: from each request's due time; closed loop: from its send. */
  latencyMs: LatencyMs;
  errors: number;
  non2xx: number;
  load: LoadResult | OpenLoopResult;
  cpu: CpuUse;
  /** Anything else on the machine used at most OTHER_CPU_LIMIT_SECONDS during the window. */
  clean: boolean;
  /** Redis time by command over the window (all clients). */
  redisCommands: Record<string, CommandUse>;
  /** Redis's longest single commands over the window (SLOWLOG, at least 1 ms; all clients). */
  slowlog: SlowlogSummary;
  /** Drain phases: the consumer over the window, and CPU per event acknowledged (engine and services). */
  ingest?: DrainProgress & { engineUsPerEvent: number; usPerEvent: Record<string, number> };
}

/** Runs one phase against `url`; `pids` are the server's processes and the services (label -> pids). */
export async function runPhase(ctx: Ctx, spec: PhaseSpec, url: string, pool: Bodies, pids: Record<string, number[]>): Promise<PhaseResult> {
  const { p } = ctx;
  let start: CpuReading | undefined;
  let end: CpuReading | undefined;
  let sampler: ReturnType<typeof sampleConsumer> | undefined;
  // Read at the window's edges, as the generator reports them; awaited after the load ends.
  let samplesP: Promise<ConsumerSample[]> | undefined;
  let redisStart: Promise<CommandStats> | undefined;
  let redisEnd: Promise<CommandStats> | undefined;
  let slowStart: ReturnType<typeof slowlogWindow> | undefined;
  let slowEnd: Promise<SlowlogSummary> | undefined;
  const watched = { ...pids };
  const onWindow = (edge: 'start' | 'end', pid: number) => {
    if (edge === 'start') {
      watched['load generator'] = [pid];
      start = readCpu(watched);
      redisStart = redisCommandStats(ctx);
      slowStart = slowlogWindow(ctx);
      if (spec.drain) sampler = sampleConsumer(ctx, performance.now(), DRAIN_SAMPLE_MS);
    } else {
      end = readCpu(watched);
      redisEnd = redisCommandStats(ctx);
      slowEnd = slowStart?.then((w) => w.stop());
      samplesP = sampler?.stop();
    }
  };
  let load: LoadResult | OpenLoopResult;
  let samples: ConsumerSample[] | undefined;
  try {
    load = spec.loop === 'closed'
      ? await runLoad({
        url, method: 'POST', headers: ctx.headers, bodies: pool.bodies, connections: p.connections,
        durationSeconds: p.closedDuration, warmupSeconds: p.closedWarmup,
      }, { onWindow, signal: ctx.signal, nice: p.generatorNice })
      : await runOpenLoop({
        url, headers: ctx.headers, bodies: pool.bodies, rate: spec.rate!, durationSeconds: p.duration,
        warmupSeconds: p.warmup, sockets: p.sockets, timeoutMs: OPEN_LOOP_TIMEOUT_MS,
      }, { onWindow, signal: ctx.signal, nice: p.generatorNice });
  } finally {
    // Stops the consumer reads even when the phase failed.
    samples = await (samplesP ?? sampler?.stop());
  }
  if (!start || !end) throw new Error(`${spec.phase}: the load generator reported no measured window`);
  const checks = 'answered' in load ? load.answered : load.responses;
  const cpu = cpuUse(start, end, checks);
  const redisCommands = redisCommandDelta(await redisStart!, await redisEnd!);
  const slowlog = await slowEnd!;
  const result: PhaseResult = {
    ...spec,
    checks,
    checksPerSecond: 'answered' in load ? load.answeredPerSecond : load.requestsPerSecond,
    seconds: load.seconds,
    latencyMs: load.latencyMs,
    errors: load.errors,
    non2xx: load.non2xx,
    load,
    cpu,
    clean: cpu.otherSeconds === undefined || cpu.otherSeconds <= OTHER_CPU_LIMIT_SECONDS,
    redisCommands,
    slowlog,
  };
  if (samples) {
    const progress = drainProgress(samples);
    const perEvent = (label: string) => (progress.events > 0 ? Math.round(((cpu.seconds[label] ?? NaN) * 1e6) / progress.events) : NaN);
    result.ingest = {
      ...progress,
      engineUsPerEvent: perEvent('engine'),
      usPerEvent: Object.fromEntries(INGEST_PROCESSES.map((k) => [k, perEvent(k)])),
    };
  }
  return result;
}
