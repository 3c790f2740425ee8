/**
 * CPU time per process over a phase's measured window: the processes the benchmark started
 * (the supervisor and its engine and api children, the bare Fastify app, the load generator)
 * by their pids, the local redis-server, nats-server and clickhouse-server found with pgrep,
 * this benchmark process, and everything else on the machine (all cores' busy time minus the
 * rest), which says whether the run had the machine to itself.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { machineBusySeconds, machineTimes, pidCpuSeconds, round } from '../measure.js';

/** The services, by the name Linux keeps for them in /proc/<pid>/comm (15 characters at most). */
const SERVICES: Record<string, string> = { redis: 'redis-server', nats: 'nats-server', clickhouse: 'clickhouse-serv' };

/** Pids of the local services; a service that is not local has none. */
export function servicePids(): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [label, comm] of Object.entries(SERVICES)) {
    try {
      out[label] = execFileSync('pgrep', ['-x', comm], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      out[label] = []; // pgrep exits 1 when nothing matches
    }
  }
  return out;
}

/**
 * Seconds a process's main thread has spent waiting in the run queue for a core so far, from
 * /proc/<pid>/schedstat (NaN where unreadable). A long wait is a thread that had work but no core.
 */
function mainThreadWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/** CPU seconds so far of every process on the machine, by pid, with its name. */
function everyProcess(): Map<number, { comm: string; cpu: number }> {
  const out = new Map<number, { comm: string; cpu: number }>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const d of pids) {
    const pid = Number(d);
    const cpu = pidCpuSeconds(pid);
    if (!Number.isFinite(cpu)) continue;
    let comm = '?';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // ended meanwhile
    }
    out.set(pid, { comm, cpu });
  }
  return out;
}

export interface CpuReading {
  /** Every process's CPU so far, to name what else used the machine. */
  all: Map<number, { comm: string; cpu: number }>;
  /** The pids counted under a label (and this process). */
  known: Set<number>;
  /** CPU seconds so far, by process label. */
  byProcess: Record<string, number>;
  /** Run-queue wait of each process's main thread so far, s. */
  waitByProcess: Record<string, number>;
  /** This benchmark process. */
  bench: number;
  machineBusy: number | undefined;
  machine: ReturnType<typeof machineTimes>;
}

/** Reads the CPU counters of `pids` (label -> pids of that label). */
export function readCpu(pids: Record<string, number[]>): CpuReading {
  const byProcess: Record<string, number> = {};
  const waitByProcess: Record<string, number> = { bench: mainThreadWaitSeconds(process.pid) };
  for (const [label, list] of Object.entries(pids)) {
    byProcess[label] = list.reduce((s, pid) => s + pidCpuSeconds(pid), 0);
    waitByProcess[label] = list.reduce((s, pid) => s + mainThreadWaitSeconds(pid), 0);
  }
  const own = process.cpuUsage();
  const known = new Set([process.pid, ...Object.values(pids).flat()]);
  return { all: everyProcess(), known, byProcess, waitByProcess, bench: (own.user + own.system) / 1e6, machineBusy: machineBusySeconds(), machine: machineTimes() };
}

export interface CpuUse {
  /** CPU seconds in the window, by process (NaN: a process that could not be read). */
  seconds: Record<string, number>;
  /** Microseconds of CPU per check answered, by process. */
  usPerCheck: Record<string, number>;
  /** Seconds each process's main thread waited for a core (runnable, not running). */
  mainThreadWaitSeconds: Record<string, number>;
  /** Busy time of all cores not accounted to any process above, s. */
  otherSeconds: number | undefined;
  /** Busy time of all cores, s. */
  machineBusySeconds: number | undefined;
  /** Time all cores spent in interrupt handlers (irq + softirq: loopback TCP is mostly softirq), charged to no process, and stolen by the hypervisor, s. */
  interruptSeconds: number | undefined;
  stealSeconds: number | undefined;
  /** The processes outside the benchmark that used the most CPU in the window (>= 0.05 s), s. */
  topOthers: { pid: number; comm: string; seconds: number }[];
}

/** CPU used between two readings, per process and per check. */
export function cpuUse(a: CpuReading, b: CpuReading, checks: number): CpuUse {
  const seconds: Record<string, number> = {};
  for (const [label, v] of Object.entries(b.byProcess)) seconds[label] = round(v - (a.byProcess[label] ?? NaN), 3);
  seconds.bench = round(b.bench - a.bench, 3);
  const usPerCheck = Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round((v * 1e6) / Math.max(1, checks))]));
  const busy = a.machineBusy !== undefined && b.machineBusy !== undefined ? b.machineBusy - a.machineBusy : undefined;
  const accounted = Object.values(seconds).filter(Number.isFinite).reduce((s, v) => s + v, 0);
  const mainThreadWaitSeconds: Record<string, number> = {};
  for (const [label, v] of Object.entries(b.waitByProcess)) mainThreadWaitSeconds[label] = round(v - (a.waitByProcess[label] ?? NaN), 3);
  const m = a.machine && b.machine ? { irq: b.machine.irq - a.machine.irq, softirq: b.machine.softirq - a.machine.softirq, steal: b.machine.steal - a.machine.steal } : undefined;
  const topOthers: CpuUse['topOthers'] = [];
  for (const [pid, e] of b.all) {
    if (b.known.has(pid)) continue;
    const used = e.cpu - (a.all.get(pid)?.cpu ?? 0); // a process started in the window counts from 0
    if (used >= 0.05) topOthers.push({ pid, comm: e.comm, seconds: round(used, 2) });
  }
  topOthers.sort((x, y) => y.seconds - x.seconds).splice(5);
  return {
    seconds,
    usPerCheck,
    mainThreadWaitSeconds,
    topOthers,
    interruptSeconds: m && round(m.irq + m.softirq, 2),
    stealSeconds: m && round(m.steal, 2),
    otherSeconds: busy === undefined ? undefined : round(Math.max(0, busy - accounted), 2),
    machineBusySeconds: busy === undefined ? undefined : round(busy, 2),
  };
}
