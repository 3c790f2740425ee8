import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { foldEvents, parseFilter, sourceName, type EventType, type InteractionEvent, type SourceRecord, type SourceRef, type SourceRegistry } from '../../core/index.js';
import { createLookup } from '../../engine/lookup/index.js';
import { createRedis, RedisHotIndex, sourceKeys } from '../../storage/redis/index.js';
import { eventually, getJson, hotState, historyFold, startStack, testConfig, testNamespace } from './helpers.js';

/**
 * The compact hot layout (docs/design.md, "Hot index") against the fold it must equal, on a real Redis:
 * any order, duplication and replay of events; buckets that split while written; walks that
 * meet every user once while users arrive and buckets split between steps; count and estimate
 * against brute force; the upgrade from the sorted-set layout.
 */

/** A lookup over the hot index alone: every source hot, nothing from history. */
function createLookupPort(hot: RedisHotIndex, sources: SourceRef[]) {
  const rec = (s: SourceRef) => ({ kind: s.kind, id: s.id, tier: 'hot' }) as SourceRecord;
  const known = new Map(sources.map((s) => [sourceName(s), rec(s)]));
  const registry = { peek: (s: SourceRef) => known.get(sourceName(s)), get: async (s: SourceRef) => known.get(sourceName(s)) ?? null, tagged: () => [] } as unknown as SourceRegistry;
  const hotOnly = () => Promise.reject(new Error('hot only'));
  const history = { filterUsers: hotOnly, filterCount: hotOnly, filterValues: hotOnly, leafCounts: hotOnly };
  return createLookup({ registry, hot, history });
}

const redisOpts = () => ({ url: testConfig('t').redisUrl, clusterNodes: testConfig('t').redisClusterNodes });
const A: SourceRef = { kind: 'campaign', id: 'A' };
const B: SourceRef = { kind: 'canvas', id: 'B' };
const TYPES: EventType[] = ['send', 'delivery', 'open', 'click', 'machine_open'];

function event(i: number, user: number, src: SourceRef, type: EventType, time: number, variant?: string, step?: string): InteractionEvent {
  return { id: `e${i}`, type, userId: `user-${user}`, source: src, time, ...(variant && { variantId: variant }), ...(step && { stepId: step }) };
}

/** Snapshot of every source as plain objects, `any` included. */
async function state(hot: RedisHotIndex, sources: SourceRef[]) {
  const out: Record<string, unknown> = {};
  for (const s of sources) {
    const snap = await hot.snapshot(s);
    out[`${s.kind}:${s.id}`] = Object.fromEntries([...snap].map(([k, u]) => [k, Object.fromEntries([...u].sort(([a], [b]) => (a < b ? -1 : 1)))]));
  }
  return out;
}

function foldState(events: InteractionEvent[], sources: SourceRef[]) {
  const out: Record<string, unknown> = {};
  for (const s of sources) {
    const fold = foldEvents(events.filter((e) => e.source.kind === s.kind && e.source.id === s.id))[0];
    out[`${s.kind}:${s.id}`] = fold
      ? Object.fromEntries([...fold.indexes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, u]) => [k, Object.fromEntries([...u].sort(([a], [b]) => (a < b ? -1 : 1)))]))
      : {};
  }
  return out;
}

test('writes in any order, duplicated and replayed, in calls of any size, equal the fold (property)', async () => {
  const arb = fc.array(
    fc.record({
      user: fc.integer({ min: 0, max: 900 }),
      src: fc.constantFrom(A, B),
      type: fc.constantFrom(...TYPES),
      time: fc.integer({ min: 0, max: 2 ** 42 }),
      variant: fc.option(fc.constantFrom('v1', 'v2', 'x:y'), { nil: undefined }),
      step: fc.option(fc.constantFrom('s1', 's2'), { nil: undefined }),
    }),
    { minLength: 200, maxLength: 1_500, size: 'max' },
  );
  await fc.assert(
    fc.asyncProperty(arb, fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 400 }), async (raw, chunk, perCall) => {
      const ns = testNamespace('hl');
      const redis = createRedis(redisOpts());
      const hot = new RedisHotIndex(redis, { namespace: ns, maxUsersPerCall: perCall });
      try {
        const events = raw.map((r, i) => event(i, r.user, r.src, r.type, r.time, r.variant, r.src === B ? r.step : undefined));
        // Replays: a shuffled copy of some events again, after the rest.
        const replay = [...events].reverse().filter((_, i) => i % 3 === 0);
        const all = [...events, ...replay];
        for (let i = 0; i < all.length; i += chunk) await hot.apply(foldEvents(all.slice(i, i + chunk)), { maxInFlight: 3 });
        assert.equal(await state(hot, [A, B]), foldState(events, [A, B]));
      } finally {
        await hot.unlinkNamespace();
        redis.disconnect();
      }
    }),
    { numRuns: 6 },
  );
});

test('buckets split under concurrent writes without losing an entry, and stay listpacks', async () => {
  const ns = testNamespace('hl');
  const redis = createRedis(redisOpts());
  const hot = new RedisHotIndex(redis, { namespace: ns, maxUsersPerCall: 100 });
  try {
    const N = 6_000;
    const events = Array.from({ length: N }, (_, u) => event(u, u, A, u % 3 ? 'send' : 'open', 1_000_000 + u, `v${u % 4}`));
    // Eight writers at once, each its own share, so splits race with writes of other calls.
    await Promise.all(Array.from({ length: 8 }, (_, w) => hot.apply(foldEvents(events.filter((_, i) => i % 8 === w)), { maxInFlight: 2 })));
    const k = sourceKeys(ns, A);
    const [level, split, gen] = await redis.hmget(k.meta, 'L', 'p', 'g');
    const buckets = 2 ** Number(level) + Number(split);
    assert.ok(buckets >= N / 200, `${buckets} buckets for ${N} users`);
    let fields = 0;
    for (let b = 0; b < buckets; b++) {
      const n = await redis.hlen(k.bucket(gen!, b));
      fields += n;
      assert.ok(n <= 512, `bucket ${b} holds ${n} users`);
      assert.is(await redis.object('ENCODING', k.bucket(gen!, b)), 'listpack', `bucket ${b}`);
    }
    assert.is(fields, N);
    assert.is(await hot.countUsers(A), N);
    assert.equal(await state(hot, [A]), foldState(events, [A]));
    const users = events.map((e) => e.userId);
    const { latest, known } = await hot.scores([{ source: A, index: 'e:open' }, { source: A, index: 'any' }], [A], [...users, 'nobody']);
    users.forEach((_, u) => {
      assert.is(known[u], 1);
      assert.is(latest[u * 2 + 1], 1_000_000 + u);
      assert.ok(u % 3 ? Number.isNaN(latest[u * 2]!) : latest[u * 2] === 1_000_000 + u);
    });
    assert.is(known[N], 0);
  } finally {
    await hot.unlinkNamespace();
    redis.disconnect();
  }
});

test('a walk in small steps meets every user present throughout exactly once while users arrive and buckets split', async () => {
  const ns = testNamespace('hl');
  const redis = createRedis(redisOpts());
  const hot = new RedisHotIndex(redis, { namespace: ns });
  try {
    const first = Array.from({ length: 3_000 }, (_, u) => event(u, u, A, 'send', 5_000 + u));
    await hot.apply(foldEvents(first));
    const seen: string[] = [];
    let arriving = 3_000;
    let last = -1;
    for (let pos = 0; pos < 2 ** 32; ) {
      const seg = await hot.segment([{ source: A, index: 'e:send' }], [A], pos, 2 ** 32, 150);
      seg.users.forEach((u, i) => {
        assert.ok(seg.positions[i]! >= last, 'positions never go back');
        last = seg.positions[i]!;
        seen.push(u);
      });
      pos = seg.end;
      // 250 new users between steps: enough to split buckets ahead of and behind the walk.
      await hot.apply(foldEvents(Array.from({ length: 250 }, (_, i) => event(arriving + i, arriving + i, A, 'send', 9_000))));
      arriving += 250;
    }
    assert.is(new Set(seen).size, seen.length, 'no user twice');
    const set = new Set(seen);
    for (const e of first) assert.ok(set.has(e.userId), `${e.userId} present throughout was met`);
  } finally {
    await hot.unlinkNamespace();
    redis.disconnect();
  }
});

test('count is exact and the estimate is within its margin, against brute force', async () => {
  const ns = testNamespace('hl');
  const redis = createRedis(redisOpts());
  const hot = new RedisHotIndex(redis, { namespace: ns });
  try {
    const N = 30_000;
    const events: InteractionEvent[] = [];
    for (let u = 0; u < N; u++) {
      events.push(event(2 * u, u, A, 'send', 10_000 + u));
      if (u % 10 < 3) events.push(event(2 * u + 1, u, A, 'click', 20_000 + u));
    }
    for (let i = 0; i < events.length; i += 5_000) await hot.apply(foldEvents(events.slice(i, i + 5_000)));
    const lookup = createLookupPort(hot, [A]);
    const filter = parseFilter({ and: [{ campaign: 'A', event: 'send' }, { not: { campaign: 'A', event: 'click' } }] });
    let brute = 0;
    for (let u = 0; u < N; u++) if (u % 10 >= 3) brute++;
    assert.is(await lookup.count(filter), brute);
    const est = await lookup.estimate(filter);
    assert.ok(est.margin > 0 && est.margin < brute / 5, `margin ${est.margin}`);
    assert.ok(Math.abs(est.count - brute) <= est.margin, `estimate ${est.count} ± ${est.margin} against ${brute}`);
    // A full walk of pages equals the count, each user once.
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await lookup.audience(filter, 4_000, cursor);
      walked.push(...page.users);
      cursor = page.next ?? undefined;
    } while (cursor);
    assert.is(walked.length, brute);
    assert.is(new Set(walked).size, brute);
    // A source of one bucket spans every quarter a count walks: each user is counted once.
    await hot.apply(foldEvents(Array.from({ length: 30 }, (_, u) => event(u, u, B, 'send', 1_000 + u))));
    const small = createLookupPort(hot, [A, B]);
    assert.is(await small.count(parseFilter({ canvas: 'B', event: 'send' })), 30);
    assert.equal(await small.estimate(parseFilter({ canvas: 'B', event: 'send' })), { count: 30, margin: 0 });
  } finally {
    await hot.unlinkNamespace();
    redis.disconnect();
  }
});

test('a namespace of the sorted-set layout is rebuilt from history on upgrade, its old keys removed', async () => {
  const stack = await startStack();
  try {
    await stack.publish(Array.from({ length: 300 }, (_, i) => ({ id: `up-${i}`, type: i % 2 ? 'open' : 'send', userId: `u${i % 120}`, campaignId: 'up', variantId: 'v', time: 5_000 + i })));
    const src = { kind: 'campaign', id: 'up' } as const;
    await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/up')).body.counts?.history === 300, 'ingested');
    await eventually(async () => stack.ts.engine!.inflight() === 0, 'no batch in flight');
    // What the previous version left: sorted sets with a key list, a stale member, its sentinel.
    const redis = createRedis(redisOpts());
    try {
      await stack.ts.hot.unlinkNamespace();
      const base = `${stack.ns}:{campaign:up}`;
      await redis.zadd(`${base}:i:any`, 1, 'ghost', 2, 'u1');
      await redis.zadd(`${base}:i:e:send`, 1, 'ghost');
      await redis.sadd(`${base}:keys`, `${base}:i:any`, `${base}:i:e:send`);
      await redis.set(`${stack.ns}:{${stack.ns}}:sentinel`, 'old-version');
      await eventually(async () => Number((await stack.ts.metrics.hotRebuilds.get()).values[0]?.value ?? 0) >= 1, 'a rebuild for the new layout');
      await eventually(async () => (await stack.ts.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'ready again');
      assert.equal(await hotState(stack.ts, src), await historyFold(stack.ts, src));
      assert.is(await redis.exists(`${base}:i:any`, `${base}:i:e:send`, `${base}:keys`), 0, 'the old sorted sets and key list are gone');
    } finally {
      redis.disconnect();
    }
  } finally {
    await stack.stop();
  }
});

test.run();
