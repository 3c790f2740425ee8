/**
 * Measuring aids shared by benchmarks: peak RSS sampling, CPU time of this process and of the
 * local service processes, forced GC between phases, medians.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance } from 'node:perf_hooks';

export const MiB = 1024 * 1024;

/** Samples `process.memoryUsage().rss` every `intervalMs` (default 100) and keeps the peak. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  readonly startRss: number;

  constructor(intervalMs = 100) {
    this.startRss = this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): number {
    const rss = process.memoryUsage().rss;
    if (rss > this.peak) this.peak = rss;
    return rss;
  }

  /** Stops sampling (taking one last sample) and returns the peak, in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

// The process was not started with --expose-gc (npm run bench runs plain tsx), so enable it
// here: a GC between phases keeps one phase's garbage out of the next phase's peak RSS.
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as (() => void) | undefined;

/** Runs a full GC if the runtime lets us; a no-op otherwise. */
export function forceGc(): void {
  if (typeof gcFn === 'function') {
    gcFn();
    gcFn();
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Service process names as Linux shows them in /proc/<pid>/comm (15 characters at most). */
const SERVICES: Record<string, string> = {
  'nats-server': 'nats',
  'redis-server': 'redis',
  'clickhouse-serv': 'clickhouse',
};

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Share of all cores busy during the next `ms` milliseconds (from /proc/stat; undefined where
 * that is unreadable). Taken before a benchmark: a busy machine makes every number lower.
 */
export async function machineBusy(ms = 1_000): Promise<number | undefined> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return a && b && b.total > a.total ? round(1 - (b.idle - a.idle) / (b.total - a.total), 3) : undefined;
}

/** Idle and total clock ticks of all cores since boot, from /proc/stat. */
function machineTicks(): { idle: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.reduce((x, y) => x + y, 0) };
  } catch {
    return undefined;
  }
}

/** CPU seconds every core has been busy since boot (all of /proc/stat's time but idle and iowait). */
export function machineBusySeconds(): number | undefined {
  const t = machineTicks();
  return t && (t.total - t.idle) / clockTicks;
}

/** Seconds all cores have spent in each of /proc/stat's states since boot (undefined where unreadable). */
export function machineTimes(): Record<'user' | 'nice' | 'system' | 'idle' | 'iowait' | 'irq' | 'softirq' | 'steal', number> | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map((x) => Number(x) / clockTicks);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { user, nice, system, idle, iowait, irq, softirq, steal };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat (NaN where unreadable). */
export function pidCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system, all threads) used so far by each local service process, by service. */
export type CpuSnapshot = Record<string, number>;

/**
 * Reads the CPU time of the local NATS, Redis and ClickHouse processes from /proc (Linux only;
 * elsewhere, or for servers on other hosts, the snapshot is empty). On a small machine these
 * share the cores with the engine, so their CPU is part of the answer to "where does time go".
 */
export function serviceCpu(): CpuSnapshot {
  const out: CpuSnapshot = {};
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const name = SERVICES[readFileSync(`/proc/${pid}/comm`, 'utf8').trim()];
      if (!name) continue;
      // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      out[name] = (out[name] ?? 0) + ticks / clockTicks;
    } catch {
      // The process ended between listing and reading.
    }
  }
  return out;
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [k, v] of Object.entries(after)) out[k] = round(v - (before[k] ?? 0), 2);
  return out;
}

/**
 * Seconds the main thread ran on a CPU and waited in the run queue for one, from
 * /proc/<pid>/task/<pid>/schedstat (Linux with schedstats; undefined elsewhere). A long wait
 * means the thread had work but the cores were busy with something else (the services).
 */
function mainThreadSched(): { onCpu: number; waiting: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    if (run === undefined || wait === undefined || !Number.isFinite(run) || !Number.isFinite(wait)) return undefined;
    return { onCpu: run / 1e9, waiting: wait / 1e9 };
  } catch {
    return undefined;
  }
}

/** Everything a phase measures about the machine besides its own result. */
export interface PhaseUsage {
  peakRssMiB: number;
  startRssMiB: number;
  /** CPU seconds of this process (all threads: main, GC, libuv). */
  processCpuSeconds: number;
  /** Share of wall time the main thread's event loop was busy, 0..1. */
  eventLoopUtilization: number;
  /** Seconds the main thread ran, and waited for a free core (Linux only). */
  mainThread?: { onCpuSeconds: number; waitingSeconds: number };
  /** CPU seconds of each local service process during the phase. */
  serviceCpuSeconds: CpuSnapshot;
  /**
   * CPU seconds of everything else on the machine during the phase (all cores busy time minus
   * this process and the services): well above zero means the numbers are not clean.
   */
  otherCpuSeconds?: number;
}

/** Starts measuring a phase; call the returned function at its end. */
export function startPhase(): () => PhaseUsage {
  forceGc();
  const rss = new RssSampler();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const services = serviceCpu();
  const sched = mainThreadSched();
  const ticks = machineTicks();
  return () => {
    const peak = rss.stop();
    const used = process.cpuUsage(cpu);
    const schedEnd = mainThreadSched();
    const ticksEnd = machineTicks();
    const processCpu = (used.user + used.system) / 1e6;
    const serviceCpuSeconds = cpuDelta(services, serviceCpu());
    const machineCpu = ticks && ticksEnd ? (ticksEnd.total - ticksEnd.idle - (ticks.total - ticks.idle)) / clockTicks : undefined;
    return {
      peakRssMiB: round(peak / MiB, 1),
      startRssMiB: round(rss.startRss / MiB, 1),
      processCpuSeconds: round(processCpu, 2),
      eventLoopUtilization: round(performance.eventLoopUtilization(elu).utilization, 3),
      serviceCpuSeconds,
      ...(machineCpu !== undefined && {
        otherCpuSeconds: round(Math.max(0, machineCpu - processCpu - Object.values(serviceCpuSeconds).reduce((x, y) => x + y, 0)), 2),
      }),
      ...(sched && schedEnd && {
        mainThread: { onCpuSeconds: round(schedEnd.onCpu - sched.onCpu, 2), waitingSeconds: round(schedEnd.waiting - sched.waiting, 2) },
      }),
    };
  };
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Pads cells into aligned columns; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], raw: (string | number)[] | undefined) =>
    r.map((c, i) => (typeof raw?.[i] === 'number' || /^-?[\d.]+$|^-$/.test(String(raw?.[i])) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!, undefined), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r, i) => line(cells[i + 1]!, r))].join('\n');
}

/** Calls and seconds spent in one store method (summed over concurrent calls). */
export interface StageTime { calls: number; seconds: number }

/**
 * `fn`, counting its calls and the time until each settles into `stage`; `gauge.inflight`,
 * when given, counts the calls not settled yet.
 */
export const timed = <A extends unknown[], R>(stage: StageTime, fn: (...args: A) => Promise<R>, gauge?: { inflight: number }) =>
  async (...args: A): Promise<R> => {
    const t = performance.now();
    if (gauge) gauge.inflight++;
    try {
      return await fn(...args);
    } finally {
      if (gauge) gauge.inflight--;
      stage.calls++;
      stage.seconds += (performance.now() - t) / 1000;
    }
  };
