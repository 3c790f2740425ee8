import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ANY_MESSAGE, foldEvents, foldMarks, type Channel, type CountLeaf, type EventType, type IndexSource, type InteractionEvent, type SourceRef } from '../../core/index.js';
import { createRedis, RedisHotIndex, sourceKeys } from '../../storage/redis/index.js';
import { MARK_BYTES } from '../../storage/redis/layout.js';
import { rng } from '../../scripts/generate.js';
import { testConfig, testNamespace } from './helpers.js';

/**
 * The hot counts (docs/design.md, "Hot counts") on a real Redis, against a brute-force count of
 * distinct event ids: any order, duplication and replay of events, buckets that split while
 * written, the horizon, erasure, dropping a source, and when a source's counts say they are
 * complete (a new source, one of an earlier version, one being restored).
 */

const redisOpts = () => ({ url: testConfig('t').redisUrl, clusterNodes: testConfig('t').redisClusterNodes });
const A: SourceRef = { kind: 'campaign', id: 'A' };
const B: SourceRef = { kind: 'canvas', id: 'B' };
const TYPES: EventType[] = ['send', 'open', 'click'];
const CHANNELS: (Channel | undefined)[] = ['email', 'push', undefined];
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

interface Ev extends InteractionEvent {}

/** Distinct event ids of `user` in `leaf` (the contract's count), from the raw events. */
function bruteCount(events: readonly Ev[], leaf: CountLeaf, user: string): number {
  const ids = new Set<string>();
  for (const e of events) {
    if (e.userId !== user || e.time < leaf.after || e.time >= leaf.before) continue;
    const any = leaf.sources[0]!.kind === 'any';
    if (!any && !leaf.sources.some((s) => s.kind === e.source.kind && s.id === e.source.id)) continue;
    const i = leaf.index;
    const last = i.lastIndexOf(':');
    if (e.type !== i.slice(last + 1)) continue;
    if (i.startsWith('v:') && e.variantId !== i.slice(2, last)) continue;
    if (i.startsWith('s:') && e.stepId !== i.slice(2, last)) continue;
    if (i.startsWith('c:') && e.channel !== i.slice(2, last)) continue;
    ids.add(e.id);
  }
  return ids.size;
}

function events(n: number, users: number, seed: number, spanDays = 20): Ev[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const src = r() < 0.5 ? A : B;
    const e: Ev = { id: `e${seed}-${i}`, type: TYPES[Math.floor(r() * 3)]!, userId: `u${Math.floor(r() * users)}`, source: src, time: NOW - Math.floor(r() * spanDays * 24) * 3_600_000 };
    if (src === A && r() < 0.5) e.variantId = r() < 0.5 ? 'v1' : 'v2';
    if (src === B && r() < 0.5) e.stepId = r() < 0.5 ? 's1' : 's2';
    // A canvas event may carry a variant too: one mark names its type, variant and step.
    if (src === B && r() < 0.4) e.variantId = 'v1';
    const ch = CHANNELS[Math.floor(r() * 3)];
    if (ch) e.channel = ch;
    // Braze Currents times are whole seconds: events of one user and second are common.
    if (r() < 0.2) e.time = Math.floor(e.time / 1000) * 1000;
    return e;
  });
}

const LEAVES = (after: number): CountLeaf[] => [
  { sources: [A], index: 'e:open', after, before: Infinity },
  { sources: [A], index: 'v:v1:click', after, before: NOW - 2 * DAY },
  { sources: [B], index: 's:s2:send', after, before: Infinity },
  { sources: [B], index: 'v:v1:open', after, before: Infinity },
  { sources: [A, B], index: 'e:click', after, before: Infinity },
  { sources: [ANY_MESSAGE], index: 'e:open', after, before: Infinity },
  { sources: [ANY_MESSAGE], index: 'c:email:send', after, before: Infinity },
];

async function withHot(run: (hot: RedisHotIndex, ns: string, redis: ReturnType<typeof createRedis>) => Promise<void>, horizonDays = 30): Promise<void> {
  const redis = createRedis(redisOpts());
  const ns = testNamespace('hc');
  try {
    await run(new RedisHotIndex(redis, { namespace: ns, countHorizonMs: horizonDays * DAY, now: () => NOW }), ns, redis);
  } finally {
    await redis.quit();
  }
}

/** `everyLeaf`: each leaf counts some event for some user (the comparison is not vacuous). */
async function assertCounts(hot: RedisHotIndex, evs: readonly Ev[], users: string[], after: number, what: string, everyLeaf = false): Promise<void> {
  const leaves = LEAVES(after);
  const got = await hot.counts(leaves, users);
  assert.equal([...got.complete], leaves.map(() => 1), `${what}: complete`);
  leaves.forEach((l, i) => {
    let total = 0;
    for (let u = 0; u < users.length; u++) {
      const n = bruteCount(evs, l, users[u]!);
      total += n;
      assert.is(got.counts[u * leaves.length + i], n, `${what}: ${JSON.stringify(l.sources)} ${l.index} ${users[u]}`);
    }
    if (everyLeaf) assert.ok(total > 0, `${what}: ${l.index} counts something`);
  });
}

test('counts equal distinct event ids in the window, for any order, duplication, replay and split', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 40 }), async (seed, batch) => {
      await withHot(async (hot) => {
        const evs = events(600, 350, seed);
        // Replays and duplicates: a shuffled third again, and one event under its own id twice in a batch.
        const stream = [...evs, ...evs.filter((_, i) => i % 3 === 0).reverse()];
        for (let i = 0; i < stream.length; i += batch * 10) await hot.apply(foldEvents(stream.slice(i, i + batch * 10)));
        const users = Array.from({ length: 350 }, (_, i) => `u${i}`).concat('nobody');
        await assertCounts(hot, evs, users, NOW - 10 * DAY, `seed ${seed}`);
        await assertCounts(hot, evs, users, NOW - 30 * DAY, `seed ${seed}, whole horizon`, true);
      });
    }),
    { numRuns: 4 },
  );
});

test('marks older than the horizon are neither written nor kept once the user is written again', async () => {
  await withHot(async (hot, ns, redis) => {
    const old: Ev = { id: 'old', type: 'open', userId: 'u1', source: A, time: NOW - 12 * DAY };
    const recent: Ev = { id: 'new', type: 'open', userId: 'u1', source: A, time: NOW - 2 * DAY };
    await hot.apply(foldEvents([old, recent]));
    const counted = await hot.counts([{ sources: [A], index: 'e:open', after: 0, before: Infinity }], ['u1']);
    assert.is(counted.counts[0], 1, 'only the event within 10 days is counted');
    const k = sourceKeys(ns, A);
    const gen = await redis.hget(k.meta, 'g');
    assert.is((await redis.hgetBuffer(k.countBucket(gen!, 0), 'u1'))!.length, MARK_BYTES, 'one mark stored');
    // A writer whose horizon is 1 day drops the 2-day-old mark when it writes the user again.
    const short = new RedisHotIndex(redis, { namespace: ns, countHorizonMs: DAY, now: () => NOW });
    await short.apply(foldEvents([{ id: 'newer', type: 'open', userId: 'u1', source: A, time: NOW - 3_600_000 }]));
    assert.is((await redis.hgetBuffer(k.countBucket(gen!, 0), 'u1'))!.length, MARK_BYTES, 'the old mark went, the new one came');
    // Hot counts off: no marks written.
    const off = new RedisHotIndex(redis, { namespace: ns, countHorizonMs: 0, now: () => NOW });
    await off.apply(foldEvents([{ id: 'x', type: 'send', userId: 'u2', source: A, time: NOW }]));
    assert.is(await redis.hget(k.countBucket(gen!, 0), 'u2'), null);
  }, 10);
});

test('erasure removes a user\'s marks; dropping a source removes every count bucket', async () => {
  await withHot(async (hot, ns, redis) => {
    const evs = events(3_000, 800, 7);
    for (let i = 0; i < evs.length; i += 500) await hot.apply(foldEvents(evs.slice(i, i + 500)));
    const k = sourceKeys(ns, A);
    const gen = (await redis.hget(k.meta, 'g'))!;
    assert.ok(Number(await redis.hget(k.meta, 'L')) >= 2, 'the source split its buckets');
    const user = evs.find((e) => e.source === A)!.userId;
    await hot.eraseUser(user, [A, B, ANY_MESSAGE]);
    const after = await hot.counts(LEAVES(NOW - 30 * DAY), [user]);
    assert.equal([...after.counts], LEAVES(0).map(() => 0), 'nothing counted for the erased user');
    // Every bucket number the meta names, as keys of the count family (EXISTS goes to the source's node on a cluster).
    const buckets = 2 ** Number(await redis.hget(k.meta, 'L')) + Number(await redis.hget(k.meta, 'p'));
    const countKeys = Array.from({ length: buckets }, (_, b) => k.countBucket(gen, b));
    assert.ok((await redis.exists(...countKeys)) > 1, 'count buckets exist');
    await hot.setGate(A, 'demoting');
    await hot.dropSource(A);
    assert.is(await redis.exists(...countKeys), 0, 'no count bucket left');
    assert.is(await hot.sourceKeyCount(A), 0, 'no key of the source left');
  });
});

test('complete since: a new source from its first event, an earlier version\'s source never, a restored one from its horizon', async () => {
  await withHot(async (hot, ns, redis) => {
    const leaf = (s: IndexSource, after: number): CountLeaf => ({ sources: [s], index: 'e:open', after, before: Infinity });
    await hot.apply(foldEvents([{ id: '1', type: 'open', userId: 'u1', source: A, time: NOW - DAY }]));
    assert.equal([...(await hot.counts([leaf(A, 0)], ['u1'])).complete], [1], 'a source ingest created counts from its first event');
    // A source written by an earlier version has no `cs`: its counts answer nothing.
    await redis.hdel(sourceKeys(ns, A).meta, 'cs');
    assert.equal([...(await hot.counts([leaf(A, NOW - 5 * DAY)], ['u1'])).complete], [0]);
    // Being restored (the gate open as "restoring"): ingest's writes do not say the counts are complete.
    await hot.setGate(B, 'restoring');
    await hot.apply(foldEvents([{ id: '2', type: 'open', userId: 'u1', source: B, time: NOW - DAY }]));
    assert.equal([...(await hot.counts([leaf(B, NOW - 5 * DAY)], ['u1'])).complete], [0], 'restoring: history answers');
    // The restore loads the marks from history and says so.
    await hot.load(foldMarks(B, [{ userId: 'u1', type: 'open', variantId: '', stepId: '', channel: undefined, time: NOW - 3 * DAY, id: '0' }]));
    await hot.countsComplete(B, NOW - 30 * DAY);
    const r = await hot.counts([leaf(B, NOW - 5 * DAY), leaf(B, NOW - 31 * DAY)], ['u1']);
    assert.equal([...r.complete], [1, 0], 'complete from the horizon the restore loaded, not before');
    assert.is(r.counts[0], 2, 'the restored mark and the one ingest wrote meanwhile');
    // The any-message pseudo-source of a new namespace counts from its first event too.
    assert.equal([...(await hot.counts([leaf(ANY_MESSAGE, 0)], ['u1'])).complete], [1]);
  });
});

test.run();
