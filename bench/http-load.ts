/**
 * Closed-loop HTTP load from a child process: autocannon against one URL, request bodies
 * cycled from a pool, every response's latency kept at full resolution.
 *
 * Closed loop: each connection sends its next request when the answer to the last one has
 * arrived, so this finds the most requests/s the server answers with `connections` in flight.
 * Its latencies hide queueing (a slow answer delays the requests behind it instead of making
 * them late): latency at a fixed offered rate is open-loop.ts's job.
 *
 * The load runs in a child process (load-child.ts), so its CPU is not the server's or the
 * benchmark's. autocannon's own latency histogram keeps whole milliseconds only (it records
 * 0.4 ms as 0 and 2.9 ms as 2), so the child also listens to every response and reports
 * exact percentiles. The warm-up runs in the same child, just before the measured window.
 */
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { latencySummary, ms3, runLoadChild, serveLoadChild, type LatencyMs, type LoadChildEvents } from './load-child.js';

export type { LatencyMs } from './load-child.js';

export interface LoadOptions {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  /** Request bodies, sent in turn across all connections. */
  bodies: string[];
  /** Concurrent connections, one request in flight on each (no pipelining). */
  connections: number;
  durationSeconds: number;
  /** Unmeasured load just before the measured window, same connections count (default 0). */
  warmupSeconds?: number;
}

export interface LoadResult {
  /** Responses received in the window, any status. */
  responses: number;
  seconds: number;
  /** Responses per second over the window. */
  requestsPerSecond: number;
  /** Exact latency percentiles over every response, ms (3 decimals), each timed from its send. */
  latencyMs: LatencyMs;
  /** autocannon's own numbers: latencies in whole ms (rounded down), mean of per-second counts. */
  autocannon: { latencyMs: { p50: number; p99: number; max: number }; requestsPerSecondMean: number; sent: number };
  /** Connection errors (timeouts included), timeouts, and responses whose status was not 2xx. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** CPU seconds of the load generator process (user + system) during the measured window. */
  cpuSeconds: number;
}

const thisFile = fileURLToPath(import.meta.url);

/** Runs autocannon in a child process and resolves with its result (see load-child.ts). */
export function runLoad(opts: LoadOptions, events?: LoadChildEvents | AbortSignal): Promise<LoadResult> {
  return runLoadChild<LoadOptions, LoadResult>(thisFile, opts, events instanceof AbortSignal ? { signal: events } : events);
}

/** One autocannon run; `onResponse` sees each response time (ms). */
function autocannonRun(opts: LoadOptions, seconds: number, onResponse?: (ms: number) => void, onStart?: () => void) {
  let i = 0;
  return new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        pipelining: 1,
        duration: seconds,
        requests: [{
          method: opts.method,
          headers: opts.headers,
          // Called for every request: the next body of the pool.
          setupRequest: (req) => ({ ...req, body: opts.bodies[i++ % opts.bodies.length]! }),
        }],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    if (onStart) instance.on('start', onStart);
    if (onResponse) instance.on('response', (_client, _status, _bytes, responseTime) => onResponse(responseTime));
  });
}

/** The child's side: warm-up, one measured run, result. */
async function child(opts: LoadOptions, window: (edge: 'start' | 'end') => void): Promise<LoadResult> {
  if (opts.warmupSeconds) await autocannonRun(opts, opts.warmupSeconds);
  const latencies: number[] = [];
  let cpu = process.cpuUsage();
  let started = performance.now();
  const result = await autocannonRun(opts, opts.durationSeconds, (ms) => void latencies.push(ms), () => {
    window('start');
    cpu = process.cpuUsage();
    started = performance.now();
  });
  const ended = performance.now();
  const used = process.cpuUsage(cpu);
  window('end');
  const seconds = (ended - started) / 1000;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
  return {
    responses: latencies.length,
    seconds: ms3(seconds),
    requestsPerSecond: Math.round(latencies.length / seconds),
    latencyMs: latencySummary(Float64Array.from(latencies)),
    autocannon: {
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      requestsPerSecondMean: result.requests.mean,
      sent: result.requests.sent,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    cpuSeconds: Math.round(((used.user + used.system) / 1e6) * 100) / 100,
  };
}

serveLoadChild(import.meta.url, child);
