import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { ErasureIndex, type Erasure, type SourceRef } from '../../core/index.js';
import { createErasures, type ErasureStore } from '../../engine/erasures/index.js';

/**
 * The fence restores and rebuilds ask (docs/operating.md, "Erasure"), over a store whose mirror lags: the
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

/**
 * Ingest's side (IngestErasures.landed) over a store with compare-and-set updates whose mirror
 * lags until it syncs; the clock is the test's.
 */
function ingestSetup() {
  let t = 10_000;
  const stored = new Map<string, Erasure>();
  const mirror = new Map<string, Erasure>();
  const listeners: ((key: string, doc: Erasure | null) => void)[] = [];
  let syncs = 0;
  const hearAll = () => {
    for (const [id, doc] of stored) {
      if (mirror.get(id) === doc) continue;
      mirror.set(id, doc);
      for (const l of listeners) l(id, doc);
    }
  };
  const store: ErasureStore = {
    get: async (id) => (stored.has(id) ? { doc: stored.get(id)! } : null),
    create: async () => false,
    update: async (id, fn) => {
      const next = fn(stored.get(id) ?? null);
      if (next === undefined) return { doc: stored.get(id) ?? null, changed: false };
      stored.set(id, next);
      return { doc: next, changed: true };
    },
    values: () => mirror.values(),
    onChange: (l) => void listeners.push(l),
    sync: async () => (syncs++, hearAll()),
  };
  /** Another process records an erasure of `userId` requested at `requestedAt`: in the store now, here after a sync. */
  const elsewhere = (userId: string, requestedAt: number, status: Erasure['status'], lease: Erasure['lease'] = null) => {
    const doc: Erasure = { id: `e-${userId}`, userId, status, requestedAt, finishedAt: status === 'done' ? requestedAt + 1 : null, removed: { history: 0, hot: 0 }, lease };
    stored.set(doc.id, doc);
    return doc.id;
  };
  const erasures = createErasures(
    { store, registry: { list: () => [] } as never, history: { eraseUser: async () => 0 }, hot: { eraseUser: async () => 0 }, log: pino({ level: 'silent' }) },
    { leaseMs: 1_000, graceMs: 2_000, now: () => t },
  );
  return { ingest: erasures.ingest, stored, elsewhere, hearAll, syncs: () => syncs, advance: (ms: number) => (t += ms), now: () => t };
}

test('ingest: a batch that lands with the view fresh and unchanged since its check costs no round trip and reopens nothing', async () => {
  const { ingest, syncs, advance } = ingestSetup();
  await ingest.landed(ingest.mark(), () => [['u1', 1]]);
  assert.is(syncs(), 1, 'the first batch syncs (no view yet)');
  for (let i = 0; i < 10; i++) {
    advance(40); // a batch every 40 ms: within a quarter of the grace of the last sync
    assert.is(await ingest.landed(ingest.mark(), () => { throw new Error('not asked when nothing changed'); }), 0);
  }
  assert.is(syncs(), 1);
  advance(600); // older than a quarter of the grace: synced in the background, nobody waits
  await ingest.landed(ingest.mark(), () => [['u1', 1]]);
  assert.is(syncs(), 2);
});

test('ingest: an erasure this process had not heard of, done before the batch landed (a stall longer than half the grace), is set back to pending', async () => {
  const { ingest, stored, elsewhere, syncs, advance, now } = ingestSetup();
  await ingest.landed(ingest.mark(), () => []);
  const mark = ingest.mark();
  assert.not.ok(ingest.erased('u1', now() - 5), 'checked: not erased');
  const id = elsewhere('u1', now(), 'done'); // requested, worked and done elsewhere while this process stalled
  advance(1_500);
  assert.is(await ingest.landed(mark, () => [['u1', now() - 1_505], ['u2', now() - 1_505]]), 1);
  assert.is(syncs(), 2, 'the stale view was synced first');
  assert.is(stored.get(id)!.status, 'pending');
  assert.is(stored.get(id)!.reopened, 1);
  assert.is(stored.get(id)!.finishedAt, null);
});

test('ingest: only erasures whose work may have begun and that cover the written events are set back', async () => {
  const { ingest, stored, elsewhere, hearAll, now } = ingestSetup();
  await ingest.landed(ingest.mark(), () => []);
  const mark = ingest.mark();
  const unclaimed = elsewhere('a', now(), 'pending');
  const claimed = elsewhere('b', now(), 'pending', { owner: 'w', until: now() + 1_000 });
  const later = elsewhere('c', now() - 100, 'done'); // requested before the event reached the stream: the event is new data
  hearAll();
  assert.is(await ingest.landed(mark, () => [['a', now() - 10], ['b', now() - 10], ['c', now() - 10]]), 1);
  assert.is(stored.get(unclaimed)!.reopened, undefined, 'its work, once claimed, deletes what landed before');
  assert.is(stored.get(claimed)!.reopened, 1);
  assert.equal(stored.get(claimed)!.lease, { owner: 'w', until: now() + 1_000 }, 'still its worker\'s, which runs it again');
  assert.is(stored.get(later)!.status, 'done');
});

test('erasure work: a run reopened while it works runs again before it is done', async () => {
  let t = 10_000;
  const stored = new Map<string, Erasure>();
  const store: ErasureStore = {
    get: async (id) => (stored.has(id) ? { doc: stored.get(id)! } : null),
    create: async () => false,
    update: async (id, fn) => {
      const next = fn(stored.get(id) ?? null);
      if (next === undefined) return { doc: stored.get(id) ?? null, changed: false };
      stored.set(id, next);
      return { doc: next, changed: true };
    },
    values: () => stored.values(),
    onChange: () => undefined,
    sync: async () => undefined,
  };
  stored.set('e', { id: 'e', userId: 'u', status: 'pending', requestedAt: 0, finishedAt: null, removed: { history: 0, hot: 0 }, lease: null });
  let runs = 0;
  const history = {
    eraseUser: async () => {
      // Ingest reopens it during the first run, as `landed` does for a claimed erasure.
      if (++runs === 1) stored.set('e', { ...stored.get('e')!, reopened: 1 });
      return 1;
    },
  };
  const erasures = createErasures(
    { store, registry: { list: () => [] } as never, history, hot: { eraseUser: async () => 2 }, log: pino({ level: 'silent' }) },
    { leaseMs: 1_000, graceMs: 0, scanMs: 10, now: () => t },
  );
  erasures.start();
  try {
    for (let i = 0; i < 100 && stored.get('e')!.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 10));
    await erasures.settled();
  } finally {
    erasures.stop();
  }
  assert.is(runs, 2);
  assert.is(stored.get('e')!.status, 'done');
  assert.equal(stored.get('e')!.removed, { history: 2, hot: 4 });
  t++;
});

test('unfinished erasures are counted over every user as documents change (the history counts audit waits for none)', () => {
  const index = new ErasureIndex();
  const doc = (id: string, userId: string, status: Erasure['status']): Erasure =>
    ({ id, userId, status, requestedAt: 1, finishedAt: status === 'done' ? 2 : null, removed: { history: 0, hot: 0 }, lease: null });
  index.set(doc('a', 'u1', 'pending'), 'a');
  index.set(doc('b', 'u2', 'pending'), 'b');
  index.set(doc('c', 'u1', 'done'), 'c');
  assert.is(index.unfinished(), 2);
  index.set(doc('a', 'u1', 'done'), 'a');
  assert.is(index.unfinished(), 1);
  index.set(doc('a', 'u1', 'pending'), 'a'); // reopened by ingest
  index.set(doc('b', 'u2', 'done'), 'b');
  assert.is(index.unfinished(), 1);
  index.set(null, 'a');
  assert.is(index.unfinished(), 0);
});

test.run();
