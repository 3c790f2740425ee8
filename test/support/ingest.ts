import { pino } from 'pino';
import type { Metrics } from '../../core/index.js';
import { createEngine, type EngineOptions } from '../../engine/ingest/index.js';
import type { LeaseDoc, LeaseStore } from '../../engine/ingest/ack-lease.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryHistory } from './memory-history.js';
import { MemoryHotIndex } from './memory-hot.js';
import { MemoryRegistry } from './memory-registry.js';
import { VirtualClock, type VirtualLane } from './virtual-clock.js';

/** The ingest lease's document in memory (NATS KV's compare-and-set is a plain read-modify-write here). */
export function memoryLeaseStore(): LeaseStore {
  let doc: LeaseDoc | null = null;
  return async (fn) => {
    const next = fn(doc && structuredClone(doc));
    if (next === undefined) return { doc, changed: false };
    doc = next;
    return { doc, changed: true };
  };
}

/** Metrics that keep the sum of what each counter was given (labels ignored), and forget the rest. */
export function countingMetrics(): { metrics: Metrics; count: (name: keyof Metrics) => number } {
  const sums = new Map<string, number>();
  const of = new Map<string, object>();
  const metric = (name: string) => ({
    inc: (a?: unknown, b?: unknown) => sums.set(name, (sums.get(name) ?? 0) + (typeof a === 'number' ? a : typeof b === 'number' ? b : 1)),
    set: () => undefined,
    observe: () => undefined,
  });
  const metrics = new Proxy({}, { get: (_, name) => of.get(String(name)) ?? of.set(String(name), metric(String(name))).get(String(name)) }) as Metrics;
  return { metrics, count: (name) => sums.get(name) ?? 0 };
}

/** The broker and stores ingest processes share, on one virtual clock (the broker's timers on a lane of their own). */
export function ingestWorld() {
  const clock = new VirtualClock();
  return {
    clock,
    broker: new MemoryBroker(clock.lane()),
    history: new MemoryHistory(),
    hot: new MemoryHotIndex(clock.now),
    registry: new MemoryRegistry(clock.now),
    ackLease: memoryLeaseStore(),
  };
}
export type IngestWorld = ReturnType<typeof ingestWorld>;

/** One ingest process over the world, its timers on a lane of its own. Small defaults: batches of 10, ack wait 1 s. */
export function ingestProcess(world: IngestWorld, opts: Partial<EngineOptions> = {}) {
  const lane: VirtualLane = world.clock.lane();
  const { metrics, count } = countingMetrics();
  const engine = createEngine(
    { broker: world.broker, history: world.history, hot: world.hot, registry: world.registry, metrics, log: pino({ level: 'silent' }), ackLease: world.ackLease },
    {
      namespace: 'test', batchSize: 10, batchWaitMs: 50, maxInflight: 100, ackWaitMs: 1_000, leaseMs: 3_000, lagPollMs: 1_000,
      backoffBaseMs: 100, backoffMaxMs: 1_000, ...opts, scheduler: lane,
    },
  );
  return { engine, lane, count };
}

/** `n` valid wire events of campaign `id` (users u00.., `users` of them), times from `at`. */
export function wireEvents(id: string, n: number, users = n, at = Date.UTC(2025, 0, 1)) {
  return Array.from({ length: n }, (_, i) => ({
    id: `${id}-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${String(i % users).padStart(2, '0')}`, campaignId: id, time: at + i,
  }));
}
