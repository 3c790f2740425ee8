import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply } from '../../storage/redis/write.js';
import type { WithCommands } from '../../storage/redis/commands.js';
import type { SourceFold } from '../../core/index.js';

/** A stand-in for Redis that records each script call's size and how many ran at once. */
function fakeRedis() {
  let running = 0;
  const seen = { calls: 0, maxRunning: 0, maxArgs: 0, members: 0 };
  const redis = {
    async tsApply(numKeys: number, ...rest: (string | number)[]) {
      running++;
      seen.calls++;
      seen.maxRunning = Math.max(seen.maxRunning, running);
      const args = rest.slice(numKeys) as string[];
      assert.is(args.length, numKeys - 2, 'one packed argument per index key');
      // ARGV: per index key, "score member score member ...": two values per member.
      const values = args.reduce((n, a) => n + a.split(' ').length, 0);
      seen.maxArgs = Math.max(seen.maxArgs, values);
      seen.members += values / 2;
      await new Promise((r) => setTimeout(r, 1));
      running--;
      return 1;
    },
  } as unknown as WithCommands;
  return { redis, seen };
}

const fold = (members: number): SourceFold => {
  const users = new Map(Array.from({ length: members }, (_, i) => [`u${i}`, 1_000 + i] as const));
  return { source: { kind: 'campaign', id: 'c' }, indexes: new Map([['any', users], ['e:send', new Map(users)]]) };
};

test('a large fold is split into calls of at most maxArgs values, every member sent once', async () => {
  const { redis, seen } = fakeRedis();
  await apply(redis, 'ns', [fold(5_000)], 2_000);
  assert.ok(seen.maxArgs <= 2_000, `largest call ${seen.maxArgs} values`);
  assert.is(seen.members, 10_000);
  assert.ok(seen.calls >= 10);
});

test('maxInFlight bounds the calls sent at a time; without it they all go at once', async () => {
  const one = fakeRedis();
  await apply(one.redis, 'ns', [fold(5_000), fold(3_000)], 2_000, 1);
  assert.is(one.seen.maxRunning, 1);
  assert.is(one.seen.members, 16_000);
  const four = fakeRedis();
  await apply(four.redis, 'ns', [fold(5_000), fold(3_000)], 2_000, 4);
  assert.is(four.seen.maxRunning, 4);
  const all = fakeRedis();
  await apply(all.redis, 'ns', [fold(5_000), fold(3_000)], 2_000);
  assert.is(all.seen.maxRunning, all.seen.calls);
});

test.run();
