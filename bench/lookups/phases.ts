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
import { drainProgress, sampleConsumer, type DrainProgress } from './backlog.js';
import type { Ctx } from './context.js';
import type { Bodies } from './hot-data.js';

/** Consumer info poll interval during a drain phase, ms. */
const DRAIN_SAMPLE_MS = 1_000;
/** A request not answered this long after it was due counts as an error, ms. */
const OPEN_LOOP_TIMEOUT_MS = 10_000;

export type ServerName = 'bare Fastify' | 'tierstream';

export interface PhaseSpec {
  phase: string;
  server: ServerName;
  loop: 'closed' | 'open';
  /** Open loop: the offered rate, checks/s. */
  rate?: number;
  /** An engine drains a backlog meanwhile: read its consumer. */
  drain?: boolean;
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
  /** Drain phases: the consumer over the window, and the engine's CPU per event acknowledged. */
  ingest?: DrainProgress & { engineUsPerEvent: number };
}

/** Runs one phase against `url`; `pids` are the server's processes and the services (label -> pids). */
export async function runPhase(ctx: Ctx, spec: PhaseSpec, url: string, pool: Bodies, pids: Record<string, number[]>): Promise<PhaseResult> {
  const { p } = ctx;
  let start: CpuReading | undefined;
  let end: CpuReading | undefined;
  let sampler: ReturnType<typeof sampleConsumer> | undefined;
  const watched = { ...pids };
  const onWindow = (edge: 'start' | 'end', pid: number) => {
    if (edge === 'start') {
      watched['load generator'] = [pid];
      start = readCpu(watched);
      if (spec.drain) sampler = sampleConsumer(ctx, performance.now(), DRAIN_SAMPLE_MS);
    } else {
      end = readCpu(watched);
    }
  };
  let load: LoadResult | OpenLoopResult;
  let samples: Awaited<ReturnType<ReturnType<typeof sampleConsumer>['stop']>> | undefined;
  try {
    load = spec.loop === 'closed'
      ? await runLoad({
        url, method: 'POST', headers: ctx.headers, bodies: pool.bodies, connections: p.connections,
        durationSeconds: p.closedDuration, warmupSeconds: p.closedWarmup,
      }, { onWindow, signal: ctx.signal })
      : await runOpenLoop({
        url, headers: ctx.headers, bodies: pool.bodies, rate: spec.rate!, durationSeconds: p.duration,
        warmupSeconds: p.warmup, sockets: p.sockets, timeoutMs: OPEN_LOOP_TIMEOUT_MS,
      }, { onWindow, signal: ctx.signal });
  } finally {
    // Stops the consumer reads even when the phase failed.
    samples = await sampler?.stop();
  }
  if (!start || !end) throw new Error(`${spec.phase}: the load generator reported no measured window`);
  const checks = 'answered' in load ? load.answered : load.responses;
  const cpu = cpuUse(start, end, checks);
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
  };
  if (samples) {
    const progress = drainProgress(samples);
    result.ingest = { ...progress, engineUsPerEvent: progress.events > 0 ? Math.round(((cpu.seconds.engine ?? NaN) * 1e6) / progress.events) : NaN };
  }
  return result;
}
