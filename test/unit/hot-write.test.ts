import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Dictionaries, write } from '../../storage/redis/write.js';
import type { WithCommands } from '../../storage/redis/commands.js';
import { bucketAt, bucketOf, encodeValue, hashBytes, forEachRecord, hashUser, latestOf, mergeValues, reverse32, timeOf } from '../../storage/redis/layout.js';
import type { SourceFold } from '../../core/index.js';

/**
 * A stand-in for Redis that answers lua/dict.lua with ids in first-seen order and records each
 * lua/write.lua call: its users, and how many calls ran at once. `stale` calls answer -1 (the
 * dictionary was made anew) once each.
 */
function fakeRedis(stale = 0) {
  let running = 0;
  let gen = 'g1';
  const ids = new Map<string, number>();
  const seen = { calls: 0, maxRunning: 0, maxUsers: 0, users: [] as string[], dicts: 0, values: new Map<string, Buffer>() };
  const redis = {
    async tsDict(_meta: string, _legacy: string, _tier: string, _token: string, _limit: number, _mode: string, ...names: string[]) {
      seen.dicts++;
      return [gen, ...names.map((n) => ids.get(n) ?? (ids.set(n, ids.size + 1), ids.size))];
    },
    async tsWrite(_tier: string, _meta: string, mode: string, g: string, _prefix: string, _cap: number, _splits: number, _countPrefix: string, _cutoff: number, ...quads: (string | number | Buffer)[]) {
      running++;
      seen.calls++;
      seen.maxRunning = Math.max(seen.maxRunning, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      if (stale > 0) {
        stale--;
        gen = `g${seen.calls + 1}`;
        return -1;
      }
      assert.is(g, gen, 'written with the ids of the current generation');
      assert.ok(mode === 'apply' || mode === 'load');
      seen.maxUsers = Math.max(seen.maxUsers, quads.length / 4);
      for (let i = 0; i < quads.length; i += 4) {
        assert.is(quads[i], hashUser(quads[i + 1] as string), 'the hash is the user id\'s');
        seen.users.push(quads[i + 1] as string);
        seen.values.set(quads[i + 1] as string, quads[i + 2] as Buffer);
        assert.is((quads[i + 3] as Buffer).length, 0, 'no marks in a fold without any');
      }
      return 1;
    },
  } as unknown as WithCommands;
  return { redis, seen, ids };
}

const fold = (users: number, id = 'c'): SourceFold => {
  const times = new Map(Array.from({ length: users }, (_, i) => [`u${i}`, 1_000 + i] as const));
  return { source: { kind: 'campaign', id }, indexes: new Map([['any', times], ['e:send', new Map(times)], ['v:a:send', new Map(times)]]) };
};

test('a large fold is split into calls of at most maxUsers users, every user sent once, any left out', async () => {
  const { redis, seen, ids } = fakeRedis();
  await write(redis, 'ns', new Dictionaries(redis, 'ns'), [fold(5_000)], 'apply', 250);
  assert.ok(seen.maxUsers <= 250, `largest call ${seen.maxUsers} users`);
  assert.is(seen.users.length, 5_000);
  assert.is(new Set(seen.users).size, 5_000);
  assert.equal([...ids.keys()].sort(), ['e:send', 'v:a:send'], '`any` is no stored index');
  const v = seen.values.get('u7')!;
  assert.is(timeOf(v, ids.get('e:send')!), 1_007);
  assert.is(timeOf(v, ids.get('v:a:send')!), 1_007);
  assert.is(latestOf(v), 1_007);
});

test('ids are resolved once per source and process, not per call', async () => {
  const { redis, seen } = fakeRedis();
  const dicts = new Dictionaries(redis, 'ns');
  await write(redis, 'ns', dicts, [fold(1_000)], 'apply', 250);
  await write(redis, 'ns', dicts, [fold(1_000)], 'apply', 250);
  assert.is(seen.dicts, 1);
});

test('a write refused for a changed generation resolves the ids again and is sent again', async () => {
  const { redis, seen } = fakeRedis(1);
  await write(redis, 'ns', new Dictionaries(redis, 'ns'), [fold(10)], 'load', 250);
  assert.is(seen.dicts, 2);
  assert.is(seen.users.length, 10);
});

test('maxInFlight bounds the calls sent at a time; without it they all go at once', async () => {
  const one = fakeRedis();
  await write(one.redis, 'ns', new Dictionaries(one.redis, 'ns'), [fold(5_000), fold(3_000, 'd')], 'apply', 250, 1);
  assert.is(one.seen.maxRunning, 1);
  assert.is(one.seen.users.length, 8_000);
  const four = fakeRedis();
  await write(four.redis, 'ns', new Dictionaries(four.redis, 'ns'), [fold(5_000), fold(3_000, 'd')], 'apply', 250, 4);
  assert.is(four.seen.maxRunning, 4);
  const all = fakeRedis();
  await write(all.redis, 'ns', new Dictionaries(all.redis, 'ns'), [fold(5_000), fold(3_000, 'd')], 'apply', 250);
  assert.is(all.seen.maxRunning, all.seen.calls);
});

test('values: records round-trip, sorted by id, ids past 127 in two bytes, times to 2^48', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 0x7fff }), { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { minLength: 20, maxLength: 20 }), (ids, times) => {
      const v = encodeValue(ids, times.slice(0, ids.length));
      const seen: [number, number][] = [];
      forEachRecord(v, (id, t) => seen.push([id, t]));
      const want = ids.map((id, i) => [id, times[i]!] as [number, number]).sort((a, b) => a[0] - b[0]);
      assert.equal(seen, want);
      for (const [id, t] of want) assert.is(timeOf(v, id), t);
      assert.is(latestOf(v), Math.max(...want.map(([, t]) => t)));
    }),
  );
});

test('merging values is a max per index, in any order', () => {
  const rec = fc.dictionary(fc.integer({ min: 1, max: 300 }).map(String), fc.integer({ min: 0, max: 2 ** 47 }), { minKeys: 1, maxKeys: 8 });
  fc.assert(
    fc.property(rec, rec, (a, b) => {
      const enc = (r: Record<string, number>) => encodeValue(Object.keys(r).map(Number), Object.values(r));
      const m = mergeValues(enc(a), enc(b));
      assert.equal(m, mergeValues(enc(b), enc(a)));
      for (const id of new Set([...Object.keys(a), ...Object.keys(b)])) assert.is(timeOf(m, Number(id)), Math.max(a[id] ?? -1, b[id] ?? -1));
    }),
  );
});

test('hash: FNV-1a 32 of the UTF-8 bytes (known vectors); positions reverse its bits', () => {
  assert.is(hashUser(''), 0x811c9dc5);
  assert.is(hashUser('a'), 0xe40c292c);
  assert.is(hashUser('foobar'), 0xbf9cf968);
  assert.is(hashUser('o.brien+é@x'), hashBytes(Buffer.from('o.brien+é@x', 'utf8')));
  assert.is(reverse32(1), 0x80000000);
  assert.is(reverse32(0x80000000), 1);
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (h) => assert.is(reverse32(reverse32(h)), h)));
});

test('bucketOf: linear hashing; a bucket holds one contiguous range of positions', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2 ** 20 }), fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 200 }), (level, s, hashes) => {
      const split = s % 2 ** level;
      const ranges = new Map<number, [number, number]>();
      for (const h of hashes) {
        const b = bucketOf(h, level, split);
        assert.ok(b < 2 ** level + split, 'an existing bucket');
        const bits = b < split || b >= 2 ** level ? level + 1 : level;
        assert.is(h % 2 ** bits, b);
        const pos = reverse32(h);
        const start = Math.floor(pos / 2 ** (32 - bits)) * 2 ** (32 - bits);
        const r = ranges.get(b) ?? [start, start + 2 ** (32 - bits)];
        ranges.set(b, r);
        assert.ok(pos >= r[0] && pos < r[1], 'position inside its bucket\'s range');
        const at = bucketAt(pos, { level, split, gen: 'g' });
        assert.equal(at, { bucket: b, end: r[1] }, 'bucketAt names the bucket and the end of its range');
      }
    }),
  );
});

test.run();
