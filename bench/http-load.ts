/**
 * HTTP load from a child process: autocannon against one URL, request bodies cycled from a
 * pool, and every response's latency kept at full resolution.
 *
 * The load runs in a child process, so its CPU does not count as the server's CPU. The
 * benchmark process hosts the server, and its CPU figures and `--cpu-prof` profile stay the
 * server's. autocannon's own latency histogram keeps whole milliseconds only (it records
 * 0.4 ms as 0 and 2.9 ms as 2), so the child also listens to every response and reports
 * exact percentiles.
 */
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  /** Request bodies, sent in turn across all connections. */
  bodies: string[];
  /** Concurrent connections, one request in flight on each (no pipelining). */
  connections: number;
  durationSeconds: number;
}

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  /** Responses received in the window, any status. */
  responses: number;
  seconds: number;
  /** Responses per second over the window. */
  requestsPerSecond: number;
  /** Exact latency percentiles over every response, ms (3 decimals). */
  latencyMs: LatencyMs;
  /** autocannon's own numbers: latencies in whole ms (rounded down), mean of per-second counts. */
  autocannon: { latencyMs: { p50: number; p99: number; max: number }; requestsPerSecondMean: number; sent: number };
  /** Connection errors (timeouts included), timeouts, and responses whose status was not 2xx. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** CPU seconds of the load generator process (user + system). */
  cpuSeconds: number;
}

const thisFile = fileURLToPath(import.meta.url);

/**
 * Runs autocannon in a child process (`node --import tsx`) and resolves with its result.
 * Rejects if the child fails; on `signal` the child is killed.
 */
export function runLoad(opts: LoadOptions, signal?: AbortSignal): Promise<LoadResult> {
  signal?.throwIfAborted();
  const child = fork(thisFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<LoadResult>((resolve, reject) => {
    let result: LoadResult | undefined;
    const abort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', abort, { once: true });
    child.on('message', (m) => {
      const msg = m as { result?: LoadResult; error?: string };
      if (msg.error) reject(new Error(`load generator: ${msg.error}`));
      else result = msg.result;
    });
    child.once('error', reject);
    // 'close', not 'exit': it comes after the IPC channel is drained, so the result is in.
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', abort);
      if (result) resolve(result);
      else reject(new Error(`load generator exited (${sig ?? code}) without a result`));
    });
    child.send(opts);
  });
}

/** Value at percentile `p` (0..100) of sorted values, nearest rank. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms3 = (x: number) => Math.round(x * 1000) / 1000;

/** The child's side: one load run, result sent to the parent, then exit. */
async function child(opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let i = 0;
  const cpu = process.cpuUsage();
  let started = 0;
  let ended = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.durationSeconds,
        requests: [{
          method: opts.method,
          headers: opts.headers,
          // Called for every request: the next body of the pool.
          setupRequest: (req) => ({ ...req, body: opts.bodies[i++ % opts.bodies.length]! }),
        }],
      },
      (err, res) => {
        ended = performance.now();
        if (err) reject(err);
        else resolve(res);
      },
    );
    instance.on('start', () => (started = performance.now()));
    instance.on('response', (_client, _status, _bytes, responseTime) => void latencies.push(responseTime));
  });
  const used = process.cpuUsage(cpu);
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (ended - started) / 1000;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
  return {
    responses: sorted.length,
    seconds: ms3(seconds),
    requestsPerSecond: Math.round(sorted.length / seconds),
    latencyMs: {
      p50: ms3(percentile(sorted, 50)),
      p90: ms3(percentile(sorted, 90)),
      p99: ms3(percentile(sorted, 99)),
      p999: ms3(percentile(sorted, 99.9)),
      max: ms3(sorted[sorted.length - 1] ?? NaN),
      mean: ms3(sorted.reduce((s, x) => s + x, 0) / sorted.length),
    },
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

if (process.send && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  // The parent went away: nobody will read the result.
  process.on('disconnect', () => process.exit(1));
  process.once('message', (opts) => {
    child(opts as LoadOptions).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: Error) => process.send!({ error: err.stack ?? String(err) }, () => process.exit(1)),
    );
  });
}
