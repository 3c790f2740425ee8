import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply, load } from '../../storage/redis/write.js';
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

/** A stand-in for Redis recording load's commands, in order, and how many ran at once. */
function fakeLoadRedis() {
  let running = 0;
  const log: { cmd: string; key: string; args: (string | number)[] }[] = [];
  const seen = { maxRunning: 0 };
  const record = (cmd: string) => async (key: string, ...args: (string | number)[]) => {
    running++;
    seen.maxRunning = Math.max(seen.maxRunning, running);
    log.push({ cmd, key, args });
    await new Promise((r) => setTimeout(r, 1));
    running--;
    return 1;
  };
  return { redis: { zadd: record('zadd'), sadd: record('sadd') } as unknown as WithCommands, log, seen };
}

test('load: plain ZADD GT of at most maxArgs values per command, keys listed before any is written, every member once', async () => {
  const { redis, log, seen } = fakeLoadRedis();
  await load(redis, 'ns', fold(5_001), 2_000, 3);
  const firstZadd = log.findIndex((c) => c.cmd === 'zadd');
  assert.equal(log.slice(0, firstZadd).flatMap((c) => (c.cmd === 'sadd' ? c.args : [])).sort(), ['ns:{campaign:c}:i:any', 'ns:{campaign:c}:i:e:send']);
  assert.ok(log.slice(0, firstZadd).every((c) => c.key === 'ns:{campaign:c}:keys'));
  const zadds = log.filter((c) => c.cmd === 'zadd');
  assert.ok(zadds.every((c) => c.args[0] === 'GT'), 'a max-merge: GT on every ZADD');
  assert.ok(Math.max(...zadds.map((c) => c.args.length - 1)) <= 2_000, 'bounded commands');
  const sent = new Map<string, number>();
  for (const c of zadds) for (let i = 1; i < c.args.length; i += 2) sent.set(`${c.key} ${c.args[i + 1]}`, Number(c.args[i]));
  assert.is(sent.size, 10_002);
  assert.is(zadds.reduce((n, c) => n + (c.args.length - 1) / 2, 0), 10_002);
  assert.is(sent.get('ns:{campaign:c}:i:any u5000'), 6_000);
  assert.is(seen.maxRunning, 3);
});

test.run();
