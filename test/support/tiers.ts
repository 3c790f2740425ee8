import { pino } from 'pino';
import { parseDuration, type ErasureFence, type History, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { createTierManager, type TierManagerOptions } from '../../engine/tiers/index.js';
import { MemoryHistory } from './memory-history.js';
import { MemoryHotIndex } from './memory-hot.js';
import { MemoryRegistry } from './memory-registry.js';
import { Valve } from './valve.js';
import { VirtualClock, type VirtualLane } from './virtual-clock.js';

/** Metrics that count nothing (the tier manager's). */
const noMetric = { inc() {}, set() {}, observe() {} };
export const NO_METRICS = { tierTransitions: noMetric, demoteSeconds: noMetric, restoreSeconds: noMetric, hotRebuilds: noMetric, hotSources: noMetric } as never;

/** The stores several simulated processes share, on one virtual clock. */
export function tierWorld() {
  const clock = new VirtualClock();
  return { clock, registry: new MemoryRegistry(clock.now), hot: new MemoryHotIndex(clock.now), history: new MemoryHistory() };
}
export type TierWorld = ReturnType<typeof tierWorld>;

/**
 * One process's tier manager over the world's stores, its timers on a lane of its own (freeze
 * it to stall the process). Options as the manager takes them; the defaults are small.
 */
export function tierProcess(world: TierWorld, opts: Partial<TierManagerOptions> & { erasures?: ErasureFence; history?: History } = {}) {
  const lane: VirtualLane = world.clock.lane();
  const { erasures, history = world.history, ...options } = opts;
  const tiers = createTierManager(
    { registry: world.registry, hot: world.hot, history, metrics: NO_METRICS, log: pino({ level: 'silent' }), ...(erasures && { erasures }) },
    { expireAfter: parseDuration('PT1H')!, scanIntervalMs: 1_000, leaseMs: 3_000, restoreChunkRows: 4, ...options, now: world.clock.now, scheduler: lane },
  );
  return { tiers, lane };
}

/** `n` events of campaign `id`, users u00.. in user order, two types. */
export function events(id: string, n: number, users = n, at = Date.UTC(2025, 0, 1)): InteractionEvent[] {
  const source: SourceRef = { kind: 'campaign', id };
  return Array.from({ length: n }, (_, i) => ({
    id: `${id}-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${String(i % users).padStart(2, '0')}`, source, time: at + i,
  }));
}

/** `history` read through a valve of its own: one process's ClickHouse stalls, not the others'. */
export function historyBehind(history: MemoryHistory, valve: Valve): History {
  return {
    insert: (e) => history.insert(e),
    countEvents: (s) => history.countEvents(s),
    countEventsBySource: (s) => history.countEventsBySource(s),
    userLatest: (s, u) => history.userLatest(s, u),
    countAggregateRows: (s) => history.countAggregateRows(s),
    anyMessageAggregate: (n) => history.anyMessageAggregate(n),
    recentEvents: (s, since, n) => history.recentEvents(s, since, n),
    ping: () => history.ping(),
    async *aggregateSource(source, chunkRows, opts) {
      for await (const chunk of history.aggregateSource(source, chunkRows, opts)) {
        await valve.pass();
        yield chunk;
      }
    },
  };
}
