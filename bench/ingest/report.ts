/** The ingest benchmark's console output and its summary: medians over runs, ratios, targets. */
import os from 'node:os';
import { median, round, table } from '../measure.js';
import { TARGET_CPU_FACTOR, TARGET_MEMORY_FACTOR, TARGET_RATIO } from './context.js';
import type { CeilingResult } from './ceiling.js';
import type { FloorResult } from './stores-floor.js';
import type { TierstreamResult } from './tierstream.js';

export type PhaseResult = CeilingResult | FloorResult | TierstreamResult;

/** One run of every phase: (a0), (a1), (a2), then (b) for each process count. */
export interface Run {
  a0: CeilingResult;
  a1: CeilingResult;
  a2: FloorResult;
  /** (b0) one process of role engine alone, the split's baseline (when 1 is among the process counts). */
  alone?: TierstreamResult;
  b: TierstreamResult[];
}

/** (b1) as `npm start` runs it against (b0) ingest alone in one process: the issue's "loses no more than 10%". */
const TARGET_SPLIT_RATIO = 0.9;

/** The columns of CPU per event: the ingest processes are summed into `engines`. */
const COLUMNS = ['bench', 'engines', 'supervisor', 'api', 'nats', 'redis', 'clickhouse'] as const;

/** µs of CPU per event by column (the engine children summed), and the total. */
function perEvent(r: PhaseResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, us] of Object.entries(r.cpu.usPerEvent)) {
    const col = label.startsWith('engine') ? 'engines' : label;
    out[col] = round((out[col] ?? 0) + us, 2);
  }
  out.total = r.cpu.totalUsPerEvent;
  return out;
}

export interface PhaseSummary {
  phase: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** µs of CPU per event by process (`engines`: every ingest process together) and `total`. */
  usPerEvent: Record<string, number>;
  /** CPU seconds of everything else on the machine, the largest of the runs. */
  otherSecondsMax: number | undefined;
}

function summarizePhase(rs: PhaseResult[]): PhaseSummary {
  const per = rs.map(perEvent);
  const keys = [...new Set(per.flatMap((x) => Object.keys(x)))];
  const others = rs.map((r) => r.cpu.otherSeconds).filter((x): x is number => x !== undefined);
  return {
    phase: rs[0]!.phase,
    events: rs[0]!.events,
    seconds: round(median(rs.map((r) => r.seconds)), 3),
    eventsPerSecond: Math.round(median(rs.map((r) => r.eventsPerSecond))),
    usPerEvent: Object.fromEntries(keys.map((k) => [k, round(median(per.map((x) => x[k] ?? 0)), 2)])),
    otherSecondsMax: others.length ? Math.max(...others) : undefined,
  };
}

export interface Target { target: number; actual: number; met: boolean }

export interface Summary {
  a0: PhaseSummary;
  a1: PhaseSummary;
  a2: PhaseSummary;
  /** (b0): ingest alone in one process, as before the process split. */
  alone?: PhaseSummary;
  /** (b), by process count. */
  tierstream: Record<string, PhaseSummary & { ratioToA1: number; cpuToA1PlusA2: number }>;
  memory?: { phase: string; events: number; seconds: number; maxPeakRssMiB: number; eventsPerSecond: number; otherSeconds: number | undefined }[];
  targets: Record<string, Target>;
}

export function summarize(runs: Run[], memory: TierstreamResult[]): Summary {
  const a1 = summarizePhase(runs.map((r) => r.a1));
  const a2 = summarizePhase(runs.map((r) => r.a2));
  const floorUs = a1.usPerEvent.total! + a2.usPerEvent.total!;
  const tierstream: Summary['tierstream'] = {};
  const targets: Record<string, Target> = {};
  runs[0]!.b.forEach((first, i) => {
    const b = summarizePhase(runs.map((r) => r.b[i]!));
    const ratioToA1 = round(b.eventsPerSecond / a1.eventsPerSecond, 3);
    const cpuToA1PlusA2 = round(b.usPerEvent.total! / floorUs, 3);
    tierstream[first.processes] = { ...b, ratioToA1, cpuToA1PlusA2 };
    targets[`ratio (b${first.processes})/(a1)`] = { target: TARGET_RATIO, actual: ratioToA1, met: ratioToA1 >= TARGET_RATIO };
    targets[`CPU/event (b${first.processes}) / ((a1)+(a2))`] = { target: TARGET_CPU_FACTOR, actual: cpuToA1PlusA2, met: cpuToA1PlusA2 <= TARGET_CPU_FACTOR };
  });
  const summary: Summary = { a0: summarizePhase(runs.map((r) => r.a0)), a1, a2, tierstream, targets };
  if (runs.every((r) => r.alone) && tierstream[1]) {
    summary.alone = summarizePhase(runs.map((r) => r.alone!));
    const ratio = round(tierstream[1].eventsPerSecond / summary.alone.eventsPerSecond, 3);
    targets['ratio (b1) split / (b0) alone'] = { target: TARGET_SPLIT_RATIO, actual: ratio, met: ratio >= TARGET_SPLIT_RATIO };
  }
  if (memory.length >= 2) {
    summary.memory = memory.map((m) => ({ phase: m.phase, events: m.events, seconds: m.seconds, maxPeakRssMiB: m.maxPeakRssMiB, eventsPerSecond: m.eventsPerSecond, otherSeconds: m.cpu.otherSeconds }));
    const factor = round(memory.at(-1)!.maxPeakRssMiB / memory[0]!.maxPeakRssMiB, 3);
    targets[`peak RSS ${memory.at(-1)!.events} / ${memory[0]!.events} events`] = { target: TARGET_MEMORY_FACTOR, actual: factor, met: factor <= TARGET_MEMORY_FACTOR };
  }
  return summary;
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const cpuText = (r: PhaseResult) =>
  Object.entries(r.cpu.seconds).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');

/**
 * Share of the cores' time in a phase that everything else may take for its numbers to count
 * as clean (1 CPU-second in a 10 s phase on two cores). Long phases see the kernel's own
 * threads (page reclaim, ext4 writeback of the stream's files) add up to a few seconds.
 */
export const OTHER_CPU_SHARE = 0.05;
const cores = os.cpus().length;
const clean = (otherSeconds: number | undefined, seconds: number) => (otherSeconds ?? 0) <= OTHER_CPU_SHARE * cores * seconds;

export function printPhase(label: string, r: PhaseResult): void {
  const busy = r.cpu.machineBusySeconds === undefined ? '' : `; machine busy ${Math.round((100 * r.cpu.machineBusySeconds) / r.seconds / cores)}% of ${cores} cores`;
  console.log(`${label} ${r.phase}: ${fmt(r.events)} events in ${r.seconds.toFixed(3)} s = ${fmt(r.eventsPerSecond)} events/s; ` +
    `CPU ${r.cpu.totalUsPerEvent} µs/event (${cpuText(r)} s)` +
    `${r.cpu.otherSeconds !== undefined ? `; anything else ${r.cpu.otherSeconds.toFixed(2)} s, interrupts ${r.cpu.interruptSeconds} s` : ''}${busy}`);
  if (r.cpu.topOthers.length && !clean(r.cpu.otherSeconds, r.seconds)) {
    console.log(`  others: ${r.cpu.topOthers.map((o) => `${o.comm} (${o.pid}) ${o.seconds} s`).join(', ')}`);
  }
  if ('check' in r) {
    console.log(`  peak RSS of the ingest processes ${r.peakRssMiB.join(', ')} MiB; start-up before the clock ${r.startSeconds} s; ` +
      `check: ClickHouse ${r.check.clickhouseRows} rows, ${r.check.clickhouseDistinctIds} distinct ids, ${r.check.deadLetters} dead letters, ` +
      `${r.check.redisKeys} Redis keys${r.check.ok ? '' : '  <-- expected exactly one row per event and no dead letters'}`);
    const e = r.engine;
    console.log('error' in e ? `  /metrics: ${e.error}` : `  /metrics: ${e.batches} batches of ${e.meanBatchSize} events on average, ${e.meanBatchSeconds} s each from close to ack; ` +
      `${e.redeliveries} redeliveries, ${e.writeFailures} write failures, ${e.pressureSignals} lookup pressure signals`);
  } else if ('clickhouse' in r) {
    console.log(`  ClickHouse ${r.clickhouse.inserts} inserts in ${r.clickhouse.seconds} s; Redis ${r.redis.commands} ZADD of ` +
      `${fmt(r.redis.members)} members into ${r.redis.keys} keys in ${r.redis.seconds} s; bench peak RSS ${r.peakRssMiB} MiB`);
  } else {
    console.log(`  ${fmt(r.acks)} acks; bench peak RSS ${r.peakRssMiB} MiB`);
  }
}

export function printSummary(s: Summary, runs: number): void {
  console.log(`\nsummary${runs > 1 ? ` (medians of ${runs} runs)` : ''}: CPU µs per event by process\n`);
  const phases = [s.a0, s.a1, s.a2, ...(s.alone ? [s.alone] : []), ...Object.values(s.tierstream)];
  console.log(table(['phase', 'events/s', 'seconds', ...COLUMNS, 'total', 'else s'], phases.map((x) => [
    x.phase, x.eventsPerSecond, x.seconds.toFixed(3),
    ...COLUMNS.map((c) => (c in x.usPerEvent ? x.usPerEvent[c]!.toFixed(1) : '-')),
    x.usPerEvent.total!.toFixed(1), x.otherSecondsMax?.toFixed(2) ?? '-',
  ])));
  console.log(`\n(a1)+(a2): ${round(s.a1.usPerEvent.total! + s.a2.usPerEvent.total!, 1)} µs/event`);
  const unclean = [
    ...phases.filter((x) => !clean(x.otherSecondsMax, x.seconds)).map((x) => x.phase),
    ...(s.memory ?? []).filter((m) => !clean(m.otherSeconds, m.seconds)).map((m) => m.phase),
  ];
  const limit = `${OTHER_CPU_SHARE * 100}% of the cores' time`;
  console.log(unclean.length ? `NOT clean: everything else took more than ${limit} in ${unclean.join('; ')}` : `clean: everything else took at most ${limit} in every phase`);
  if (s.memory) console.log(`peak RSS of the ingest processes: ${s.memory.map((m) => `${fmt(m.events)} events ${m.maxPeakRssMiB} MiB (at ${fmt(m.eventsPerSecond)} events/s)`).join(', ')}`);
  for (const [name, t] of Object.entries(s.targets)) {
    const cmp = name.startsWith('ratio') ? '>=' : '<=';
    console.log(`target ${name} ${cmp} ${t.target}: ${t.met ? 'met' : 'NOT met'} (${t.actual})`);
  }
}
