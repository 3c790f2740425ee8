/** The tiers benchmark's printed report: one block per phase as it ends, then the summary tables. */
import { MiB, median, round, table, type PhaseUsage } from '../measure.js';
import { TARGET_DEMOTE_SECONDS, TARGET_FREED_SHARE, TARGET_RESTORE_SECONDS, type Ctx } from './context.js';
import type { Cycle, RestoreResult } from './demote-restore.js';
import { fmt, fmtCpu, met, mib, pct } from './format.js';
import type { IngestResult } from './ingest-during-restore.js';
import type { ReplayResult } from './replay-raw.js';
import type { Check } from './state-check.js';

/** CPU seconds of other processes during a phase above which it is flagged as not clean. */
const OTHER_CPU_NOISE_SECONDS = 1;

export interface Summary {
  restoreSeconds: number;
  demoteSeconds: number;
  sourceMiB: number;
  freedShareByKeys: number;
  freedShareByUsedMemory: number;
  usedMemoryBeforeMiB: number;
  usedMemoryAfterMiB: number;
  ingestWithoutRestore: number;
  ingestDuringRestore: number;
  ingestRatio: number;
  restoreSecondsDuringIngest: number | undefined;
}

export function summarize(cycles: Cycle[], ingestRuns: IngestResult[]): Summary {
  const med = (f: (c: Cycle) => number) => median(cycles.map(f));
  const without = ingestRuns.find((r) => !r.withRestore)!;
  const during = ingestRuns.find((r) => r.withRestore)!;
  return {
    restoreSeconds: round(med((c) => c.restore.seconds), 3),
    demoteSeconds: round(med((c) => c.demotion.seconds), 4),
    sourceMiB: round(med((c) => c.memoryBefore.source.bytes) / MiB, 1),
    freedShareByKeys: round(med((c) => c.freedShareByKeys), 5),
    freedShareByUsedMemory: round(med((c) => c.freedShareByUsedMemory), 4),
    usedMemoryBeforeMiB: round(med((c) => c.memoryBefore.redis.usedMemory) / MiB, 1),
    usedMemoryAfterMiB: round(med((c) => c.memoryAfter.redis.usedMemory) / MiB, 1),
    ingestWithoutRestore: without.window.eventsPerSecond,
    ingestDuringRestore: during.window.eventsPerSecond,
    ingestRatio: round(during.window.eventsPerSecond / without.window.eventsPerSecond, 3),
    restoreSecondsDuringIngest: during.restoreSeconds,
  };
}

function usageLine(u: PhaseUsage): string {
  const main = u.mainThread ? `, main thread on CPU ${u.mainThread.onCpuSeconds.toFixed(2)} s and waiting for a core ${u.mainThread.waitingSeconds.toFixed(2)} s` : '';
  const dirty = (u.otherCpuSeconds ?? 0) > OTHER_CPU_NOISE_SECONDS ? `  <-- other processes used the CPUs: not a clean measurement` : '';
  return `  peak RSS ${u.peakRssMiB} MiB; this process CPU ${u.processCpuSeconds.toFixed(2)} s, event loop busy ${(u.eventLoopUtilization * 100).toFixed(0)}%${main}; ` +
    `services CPU: ${fmtCpu(u.serviceCpuSeconds)}${u.otherCpuSeconds !== undefined ? `; anything else ${u.otherCpuSeconds.toFixed(2)} s` : ''}${dirty}`;
}

export function checkLine(c: Check): string {
  return `ZCARD any ${fmt(c.anyCard)} (distinct users ${fmt(c.distinctUsers)}), ${c.indexes} indexes, ${fmt(c.members)} members: ` +
    (c.ok ? 'equal to the fold of the generated events' : `DIFFERS in ${c.differing.join(', ') || 'ZCARD'}`);
}

export function printCycle(c: Cycle, runs: number, usedMemoryEmpty: number): void {
  const m = c.memoryBefore;
  console.log(`\ncycle ${c.run}/${runs}`);
  console.log(`  hot before demotion: ${checkLine(c.before)}`);
  const added = m.redis.usedMemory - usedMemoryEmpty;
  console.log(`  source in Redis: ${m.source.keys} keys, ${fmt(m.source.members)} members, ${mib(m.source.bytes)} MiB by MEMORY USAGE ` +
    `(${(m.source.bytes / m.source.members).toFixed(1)} bytes/member); Redis used_memory ${mib(m.redis.usedMemory)} MiB, ` +
    `${mib(added)} MiB above the setup's level with the source empty (${(added / m.source.members).toFixed(1)} bytes/member); RSS ${mib(m.redis.usedMemoryRss)} MiB`);
  console.log(`  demotion: ${c.demotion.seconds.toFixed(4)} s to expired, ${c.demotion.keysRemoved} keys unlinked; Redis freed them in the background ` +
    `within ${c.demotion.lazyFreeMs} ms more`);
  console.log(`  after demotion: source ${c.memoryAfter.source.keys} key(s), ${c.memoryAfter.source.bytes} bytes; used_memory ${mib(c.memoryAfter.redis.usedMemory)} MiB, ` +
    `RSS ${mib(c.memoryAfter.redis.usedMemoryRss)} MiB; freed ${pct(c.freedShareByKeys)} by MEMORY USAGE of the source's keys, ${pct(c.freedShareByUsedMemory)} of what it added to used_memory`);
  console.log(`  restore: ${c.restore.seconds.toFixed(3)} s to hot, ${fmt(c.restore.aggregateRows)} aggregate rows; ${checkLine(c.restore.check)}; ` +
    `equal to the state before demotion: ${c.equalsBeforeDemotion ? 'yes' : 'NO'}`);
  console.log(`  restore stages: ${Object.entries(c.restore.stages).map(([k, v]) => `${k} ${v.calls}x ${v.seconds.toFixed(2)} s`).join(', ')}; ` +
    `${fmt(c.restore.membersSent)} (user, time) pairs sent for ${fmt(c.restore.check.members)} members`);
  console.log(usageLine(c.restore));
}

export function printReplay(r: ReplayResult): void {
  console.log(`  ${fmt(r.events)} events, ${fmt(r.redisCalls)} hot.apply calls in ${r.seconds.toFixed(2)} s = ${fmt(r.eventsPerSecond)} events/s` +
    `${r.extrapolated ? `; all ${fmt(r.sourceEvents)} would take ${r.secondsForAll.toFixed(1)} s (linear extrapolation)` : ''}`);
  console.log(`  waiting for ClickHouse ${r.clickhouseWaitSeconds.toFixed(2)} s, applying to Redis ${r.applySeconds.toFixed(2)} s` +
    (r.check ? `; ${checkLine(r.check)}` : ''));
  console.log(usageLine(r));
}

export function printIngest(r: IngestResult): void {
  console.log(`  ${fmt(r.events)} events in ${r.seconds.toFixed(2)} s = ${fmt(r.eventsPerSecond)} events/s from engine.start() (warm-up mark at ${fmt(r.warmupEvents)} acknowledged)`);
  if (r.withRestore) {
    console.log(`  restore (same process) took ${r.restoreSeconds?.toFixed(3)} s; while both ran (${r.window.seconds.toFixed(2)} s): ${fmt(r.window.events)} events = ` +
      `${fmt(r.window.eventsPerSecond)} events/s; services CPU ${fmtCpu(r.window.serviceCpuSeconds)}; this process ${r.window.processCpuSeconds.toFixed(2)} s; ` +
      (r.backlogLeftAtRestoreEnd === 0 ? 'the backlog ran out before the restore ended' : `${fmt(r.backlogLeftAtRestoreEnd ?? 0)} events were left when the restore ended`));
    if (r.afterRestore) console.log(`  after the restore: ${fmt(r.afterRestore.events)} events in ${r.afterRestore.seconds.toFixed(2)} s = ${fmt(r.afterRestore.eventsPerSecond)} events/s`);
    if (r.restoreCheck) console.log(`  restored source: ${checkLine(r.restoreCheck)}`);
  } else {
    console.log(`  warm-up mark to drained: ${fmt(r.window.events)} events in ${r.window.seconds.toFixed(2)} s = ${fmt(r.window.eventsPerSecond)} events/s; ` +
      `services CPU ${fmtCpu(r.window.serviceCpuSeconds)}; this process ${r.window.processCpuSeconds.toFixed(2)} s`);
  }
  console.log(`  dead letters ${r.deadLetters}`);
  console.log(usageLine(r));
}

export function printSummary(ctx: Ctx, build: RestoreResult, s: Summary, replays: ReplayResult[], ingestRuns: IngestResult[]): void {
  const { p } = ctx;
  const runs = p.runs > 1 ? ` (median of ${p.runs})` : '';
  console.log(`\nsummary: ${fmt(p.events)} events, ${fmt(build.check.distinctUsers)} users, ${fmt(build.aggregateRows)} aggregate rows, ` +
    `${fmt(build.check.members)} hot index members\n`);
  const during = ingestRuns.find((r) => r.withRestore)!;
  console.log(table(['measure', 'result', 'target', ''], [
    [`restore to hot${runs}`, `${s.restoreSeconds.toFixed(3)} s`, `<= ${TARGET_RESTORE_SECONDS} s`, met(s.restoreSeconds <= TARGET_RESTORE_SECONDS)],
    [`demotion to expired${runs}`, `${s.demoteSeconds.toFixed(4)} s`, `<= ${TARGET_DEMOTE_SECONDS} s`, met(s.demoteSeconds <= TARGET_DEMOTE_SECONDS)],
    [`source's Redis memory (MEMORY USAGE)${runs}`, `${s.sourceMiB.toFixed(1)} MiB`, '-', ''],
    [`used_memory before -> after demotion${runs}`, `${s.usedMemoryBeforeMiB.toFixed(1)} -> ${s.usedMemoryAfterMiB.toFixed(1)} MiB`, '-', ''],
    [`freed, share of what the source added to used_memory${runs}`, pct(s.freedShareByUsedMemory), `>= ${TARGET_FREED_SHARE * 100}%`, met(s.freedShareByUsedMemory >= TARGET_FREED_SHARE)],
    [`freed, by MEMORY USAGE of the source's keys${runs}`, pct(s.freedShareByKeys), `>= ${TARGET_FREED_SHARE * 100}%`, met(s.freedShareByKeys >= TARGET_FREED_SHARE)],
    ['ingest without restore', `${fmt(s.ingestWithoutRestore)} events/s`, '-', ''],
    ['ingest while a restore runs', `${fmt(s.ingestDuringRestore)} events/s (x${s.ingestRatio.toFixed(2)})`, '-', ''],
    ['restore while ingest runs', `${(s.restoreSecondsDuringIngest ?? NaN).toFixed(3)} s`, `<= ${TARGET_RESTORE_SECONDS} s`, met((s.restoreSecondsDuringIngest ?? Infinity) <= TARGET_RESTORE_SECONDS)],
  ]));
  if (during.window.seconds < 0.5 * (during.restoreSeconds ?? 0)) {
    console.log('warning: ingest ran for less than half of the restore; raise --ingest-events for a longer overlap');
  }

  console.log(`\nrebuilding the source from ClickHouse, side by side:\n`);
  console.log(table(['method', 'read from ClickHouse', 'hot.apply / hot.load calls', 'seconds', 'seconds for all', 'x restore'], [
    [`aggregated restore (tier manager)${runs}`, `${fmt(build.aggregateRows)} aggregate rows`, build.stages['hot.load'].calls, s.restoreSeconds.toFixed(2), s.restoreSeconds.toFixed(2), '1.0'],
    ...replays.map((r) => [
      r.description,
      `${fmt(r.events)} events`,
      r.redisCalls,
      r.seconds.toFixed(2),
      `${r.secondsForAll.toFixed(1)}${r.extrapolated ? ' (extrapolated)' : ''}`,
      (r.secondsForAll / s.restoreSeconds).toFixed(1),
    ]),
  ]));
}
