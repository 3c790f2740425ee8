/**
 * CPU time per process over a phase's measured window: the processes the benchmark started
 * (the supervisor and its engine and api children, the bare Fastify app, the load generator)
 * by their pids, the local redis-server, nats-server and clickhouse-server found with pgrep,
 * this benchmark process, and everything else on the machine (all cores' busy time minus the
 * rest), which says whether the run had the machine to itself.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { machineBusySeconds, pidCpuSeconds, round } from '../measure.js';

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

export interface CpuReading {
  /** CPU seconds so far, by process label. */
  byProcess: Record<string, number>;
  /** Run-queue wait of each process's main thread so far, s. */
  waitByProcess: Record<string, number>;
  /** This benchmark process. */
  bench: number;
  machineBusy: number | undefined;
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
  return { byProcess, waitByProcess, bench: (own.user + own.system) / 1e6, machineBusy: machineBusySeconds() };
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
  return {
    seconds,
    usPerCheck,
    mainThreadWaitSeconds,
    otherSeconds: busy === undefined ? undefined : round(Math.max(0, busy - accounted), 2),
    machineBusySeconds: busy === undefined ? undefined : round(busy, 2),
  };
}
