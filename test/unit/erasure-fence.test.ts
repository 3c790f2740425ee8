import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import type { Erasure, SourceRef } from '../../core/index.js';
import { createErasures, type ErasureStore } from '../../tiers/index.js';

/**
 * The fence restores and rebuilds ask (README, "Erasure"), over a store whose mirror lags: the
 * store holds documents this process has not heard of until it syncs, as a paused or slow
 * process's watch would.
 */
function setup() {
  const stored = new Map<string, Erasure>();
  const unheard: Erasure[] = [];
  const mirror = new Map<string, Erasure>();
  const listeners: ((key: string, doc: Erasure | null) => void)[] = [];
  const hear = () => {
    for (const doc of unheard.splice(0)) {
      mirror.set(doc.id, doc);
      for (const l of listeners) l(doc.id, doc);
    }
  };
  const store: ErasureStore = {
    get: async (id) => (stored.has(id) ? { doc: stored.get(id)! } : null),
    create: async () => false,
    update: async () => ({ doc: null, changed: false }),
    values: () => mirror.values(),
    onChange: (l) => void listeners.push(l),
    sync: async () => hear(),
  };
  /** Another process records or changes an erasure: in the store now, in this mirror later. */
  const elsewhere = (userId: string, status: Erasure['status']) => {
    const doc: Erasure = { id: `e-${userId}`, userId, status, requestedAt: 1, finishedAt: status === 'done' ? 2 : null, removed: { history: 0, hot: 0 }, lease: null };
    stored.set(doc.id, doc);
    unheard.push(doc);
  };
  const erased: [string, string[]][] = [];
  const hot = { eraseUser: async (userId: string, sources: readonly SourceRef[]) => (erased.push([userId, sources.map((s) => s.id)]), 1) };
  const history = { eraseUser: async () => 0 };
  const registry = { list: () => [] } as never;
  const { fence } = createErasures({ store, registry, history, hot, log: pino({ level: 'silent' }) }, { leaseMs: 1_000 });
  return { fence, elsewhere, hear, erased };
}

const S = [{ kind: 'campaign', id: 's' }] as const satisfies SourceRef[];

test('fence: an erasure done before the mark keeps nothing out (the user\'s later events are data); one pending or done since does', () => {
  const { fence, elsewhere, hear } = setup();
  elsewhere('old', 'done');
  elsewhere('pend', 'pending');
  hear();
  const mark = fence.mark();
  assert.not.ok(fence.excludes('old', mark));
  assert.ok(fence.excludes('pend', mark));
  assert.not.ok(fence.excludes('other', mark));
  elsewhere('pend', 'done');
  hear();
  assert.ok(fence.excludes('pend', mark), 'done after the mark: the read may still hold its rows');
  assert.not.ok(fence.excludes('pend', fence.mark()), 'a read begun after it was done holds none');
});

test('fence: recheck removes again the users of a chunk whose erasure was heard of after it was filtered', async () => {
  const { fence, elsewhere, hear, erased } = setup();
  const mark = fence.mark();
  assert.not.ok(fence.excludes('u1', mark));
  elsewhere('u1', 'done');
  hear();
  await fence.recheck(['u1', 'u2', 'u1'], mark, S);
  assert.equal(erased, [['u1', ['s']]]);
});

test('fence: settle reads the store, not the lagging mirror, then removes every user erased since the mark', async () => {
  const { fence, elsewhere, erased } = setup();
  const mark = fence.mark();
  elsewhere('late', 'done'); // done elsewhere; this process has not heard of it
  assert.not.ok(fence.excludes('late', mark), 'the mirror lags');
  await fence.recheck(['late'], mark, S);
  assert.equal(erased, [], 'recheck asks the mirror only');
  await fence.settle(mark, S);
  assert.equal(erased, [['late', ['s']]]);
});

test.run();
