/**
 * How many Redis bytes per user does the any-message pseudo-source (`<ns>:{any:message}`) take,
 * beside the sources themselves? Method: `users` users, each sent 1-4 email or push messages
 * over 20 campaigns with deliveries, opens (a third machine opens) and clicks (half with one of
 * 20 link aliases), folded with foldEvents (as an ingest batch is) and applied with
 * RedisHotIndex.apply in chunks; then SCAN + MEMORY USAGE SAMPLES 0 of every key of the
 * pseudo-source and of the sources, divided by the users.
 *
 *   npx tsx bench/hot/any-message-memory.ts [users=100000] [seed=1]
 */
import { Redis } from 'ioredis';
import { foldEvents, type InteractionEvent } from '../../core/index.js';
import { RedisHotIndex } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';

const users = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const CHUNK = 20_000;
const ns = `bench_any_${Math.random().toString(36).slice(2, 8)}`;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const hot = new RedisHotIndex(redis, { namespace: ns });
const rand = rng(seed);
const now = Date.now();
console.log(`any-message memory: users ${users} (default 100000), seed ${seed} (default 1), namespace ${ns}`);

/** Bytes (MEMORY USAGE SAMPLES 0) of the keys matching `pattern`, and how many are hash tables rather than listpacks. */
async function bytesOf(pattern: string): Promise<{ keys: number; bytes: number; hashtables: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  let hashtables = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const pipe = redis.pipeline();
    for (const k of found) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0').object('ENCODING', k);
    const res = (await pipe.exec()) ?? [];
    for (let i = 0; i < res.length; i += 2) {
      bytes += Number(res[i]![1] ?? 0);
      if (res[i + 1]![1] === 'hashtable') hashtables++;
    }
    keys += found.length;
  } while (cursor !== '0');
  return { keys, bytes, hashtables };
}

try {
  let events = 0;
  for (let from = 0; from < users; from += CHUNK) {
    const batch: InteractionEvent[] = [];
    for (let u = from; u < Math.min(users, from + CHUNK); u++) {
      const messages = 1 + Math.floor(rand() * 4);
      for (let m = 0; m < messages; m++) {
        const source = { kind: 'campaign' as const, id: `c${Math.floor(rand() * 20)}` };
        const channel = rand() < 0.7 ? 'email' as const : 'push' as const;
        const t = now - Math.floor(rand() * 30 * 86_400_000);
        const e = (type: InteractionEvent['type'], dt: number, extra: Partial<InteractionEvent> = {}) =>
          batch.push({ id: `${u}-${m}-${type}`, type, userId: `user-${u}`, source, channel, time: t + dt, ...extra });
        e('send', 0);
        e('delivery', 1_000);
        if (rand() < 0.4) e(rand() < 0.33 ? 'machine_open' : 'open', 60_000);
        if (rand() < 0.15) e('click', 120_000, rand() < 0.5 ? { linkAlias: `alias${Math.floor(rand() * 20)}` } : {});
      }
    }
    events += batch.length;
    await hot.apply(foldEvents(batch));
  }
  const any = await bytesOf(`${ns}:{any:message}:*`);
  const sources = await bytesOf(`${ns}:{campaign:*`);
  const per = (b: number) => (b / users).toFixed(1);
  console.log(`events ${events}; any-message pseudo-source: ${any.keys} keys (${any.hashtables} hash tables), ${any.bytes} bytes, ${per(any.bytes)} bytes/user`);
  console.log(`20 campaigns: ${sources.keys} keys (${sources.hashtables} hash tables), ${sources.bytes} bytes, ${per(sources.bytes)} bytes/user; pseudo-source / sources = ${(any.bytes / sources.bytes).toFixed(2)}`);
} finally {
  await hot.unlinkNamespace();
  redis.disconnect();
}
