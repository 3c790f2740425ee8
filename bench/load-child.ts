/**
 * Load generators run in child processes of their own (`node --import tsx <file>`), so their
 * CPU is measured apart and they share no event loop with the benchmark or the server. This
 * is the protocol both generators (http-load.ts, closed loop; open-loop.ts) speak with the
 * parent: the parent sends the options; the child sends `window` when its measured window
 * starts and when it ends (after any warm-up, before it computes its result), then `result`.
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { pathToFileURL } from 'node:url';

export type ChildMessage<R> = { window: 'start' | 'end' } | { result: R } | { error: string };

export interface LoadChildEvents {
  /** Called when the child's measured window starts and ends: the moments to read CPU counters. */
  onWindow?: (edge: 'start' | 'end', pid: number) => void;
  signal?: AbortSignal;
  /** Niceness of the child (negative: ahead of the server and the services for a core; needs the privilege). */
  nice?: number;
}

/**
 * Forks `file`, sends it `opts`, and resolves with the result it sends back. Rejects if the
 * child fails; on `signal` the child is killed (by its pid, SIGTERM).
 */
export function runLoadChild<O, R>(file: string, opts: O, events: LoadChildEvents = {}): Promise<R> {
  const { signal, onWindow, nice } = events;
  signal?.throwIfAborted();
  const child = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // Its main thread only: the open loop's clock thread, started later, inherits it.
  if (nice) setPriority(child.pid!, nice);
  return new Promise<R>((resolve, reject) => {
    let result: R | undefined;
    let error: string | undefined;
    const abort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', abort, { once: true });
    child.on('message', (m) => {
      const msg = m as ChildMessage<R>;
      if ('window' in msg) onWindow?.(msg.window, child.pid!);
      else if ('error' in msg) error = msg.error;
      else result = msg.result;
    });
    child.once('error', reject);
    // 'close', not 'exit': it comes after the IPC channel is drained, so the result is in.
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', abort);
      if (result !== undefined) resolve(result);
      else reject(new Error(`load generator ${file.split('/').pop()}: ${error ?? `exited (${sig ?? code}) without a result`}`));
    });
    child.send(opts as object);
  });
}

/** The child's side: when `file` is the entry point of a forked child, runs `body` once on the parent's options. */
export function serveLoadChild<O, R>(importMetaUrl: string, body: (opts: O, window: (edge: 'start' | 'end') => void) => Promise<R>): void {
  if (!process.send || !process.argv[1] || pathToFileURL(process.argv[1]).href !== importMetaUrl) return;
  // The parent went away: nobody will read the result.
  process.on('disconnect', () => process.exit(1));
  const window = (edge: 'start' | 'end') => void process.send!({ window: edge } satisfies ChildMessage<R>);
  process.once('message', (opts) => {
    body(opts as O, window).then(
      (result) => process.send!({ result } satisfies ChildMessage<R>, () => process.exit(0)),
      (err: Error) => process.send!({ error: err.stack ?? String(err) } satisfies ChildMessage<R>, () => process.exit(1)),
    );
  });
}

/** Value at percentile `p` (0..100) of sorted values, nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Rounds to 3 decimals (ms values: microseconds). */
export const ms3 = (x: number) => Math.round(x * 1000) / 1000;

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Exact percentiles of `values` (ms), 3 decimals. */
export function latencySummary(values: Float64Array): LatencyMs {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: ms3(percentile(sorted, 50)),
    p90: ms3(percentile(sorted, 90)),
    p99: ms3(percentile(sorted, 99)),
    p999: ms3(percentile(sorted, 99.9)),
    max: ms3(sorted[sorted.length - 1] ?? NaN),
    mean: ms3(sum / sorted.length),
  };
}
