/**
 * CPU per process over a phase's measured window, per event: the processes the benchmark
 * watches by pid (the services, tierstream's children), this process, and everything else on
 * the machine. Readings come from ../lookups/process-cpu.ts.
 */
import { round } from '../measure.js';
import { cpuUse, readCpu, type CpuReading, type CpuUse } from '../lookups/process-cpu.js';

export { readCpu, type CpuReading };

export interface CpuWindow extends Omit<CpuUse, 'usPerCheck'> {
  /** Microseconds of CPU per event, by process. */
  usPerEvent: Record<string, number>;
  /** Every watched process and this one, s and µs per event (what the phase cost the machine, bar interrupts). */
  totalSeconds: number;
  totalUsPerEvent: number;
}

/** CPU used between two readings, per process, in total and per event. */
export function cpuWindow(a: CpuReading, b: CpuReading, events: number): CpuWindow {
  const { usPerCheck: _, ...use } = cpuUse(a, b, events);
  const perEvent = (s: number) => round((s * 1e6) / Math.max(1, events), 2);
  const totalSeconds = round(Object.values(use.seconds).filter(Number.isFinite).reduce((s, v) => s + v, 0), 3);
  return {
    ...use,
    usPerEvent: Object.fromEntries(Object.entries(use.seconds).map(([k, v]) => [k, perEvent(v)])),
    totalSeconds,
    totalUsPerEvent: perEvent(totalSeconds),
  };
}
