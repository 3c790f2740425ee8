/**
 * What do the hot counts (docs/design.md, "Hot counts") cost in Redis memory per event, with
 * and without variants? Method: `users` users of campaign C1 (a send and a delivery each, 0 to 4
 * opens, a click for 30%), written with foldEvents + RedisHotIndex.apply as an ingest batch
 * is, twice in fresh namespaces: once without variant ids, once with a variant on every event
 * (Braze Currents always sends the message variation). Then `MEMORY USAGE ... SAMPLES 0` of
 * every count bucket (`<ns>:{campaign:C1}:n:*`) and of every records' bucket, and how many count
 * buckets are listpacks. Bytes per event and per user.
 *
 *   npx tsx bench/hot/count-memory.ts [users=50000]
 */
import { Redis } from 'ioredis';
import { foldEvents, type InteractionEvent } from '../../core/index.js';
import { RedisHotIndex } from '../../storage/index.js';
import { sourceBytes } from './source-bytes.js';
import { rng } from '../../scripts/generate.js';

const users = Number(process.argv[2] ?? 50_000);
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const source = { kind: 'campaign' as const, id: 'C1' };
const now = Date.now();
console.log(`hot count memory: users ${users} (default 50000), campaign C1, events in the last 20 days`);

async function measure(withVariants: boolean): Promise<void> {
  const ns = `bench_cmem_${Math.random().toString(36).slice(2, 8)}`;
  const hot = new RedisHotIndex(redis, { namespace: ns });
  const rand = rng(11);
  let events = 0;
  try {
    for (let from = 0; from < users; from += 5_000) {
      const batch: InteractionEvent[] = [];
      for (let u = from; u < Math.min(users, from + 5_000); u++) {
        const t = now - Math.floor(rand() * 20 * 86_400_000);
        const base = { userId: `u${u}`, source, channel: 'email' as const, ...(withVariants && { variantId: rand() < 0.5 ? 'v1' : 'v2' }) };
        batch.push({ ...base, id: `s${u}`, type: 'send', time: t }, { ...base, id: `d${u}`, type: 'delivery', time: t + 1_000 });
        const opens = Math.floor(rand() * 5);
        for (let k = 0; k < opens; k++) batch.push({ ...base, id: `o${u}-${k}`, type: 'open', time: t + 60_000 * (k + 1) });
        if (rand() < 0.3) batch.push({ ...base, id: `c${u}`, type: 'click', time: t + 3_600_000 });
      }
      events += batch.length;
      await hot.apply(foldEvents(batch));
    }
    const sizes = await sourceBytes(redis, ns, source);
    const f = (x: number) => x.toFixed(1);
    console.log(`${withVariants ? 'a variant on every event' : 'no variants'}: ${events.toLocaleString('en-US')} events; hot counts ${sizes.counts.toLocaleString('en-US')} B ` +
      `(${f(sizes.counts / events)} B an event, ${f(sizes.counts / users)} B a user; ${sizes.listpacks} of ${sizes.countBuckets} count buckets listpacks); ` +
      `records ${sizes.records.toLocaleString('en-US')} B (${f(sizes.records / users)} B a user)`);
  } finally {
    await hot.unlinkNamespace();
  }
}

try {
  await measure(false);
  await measure(true);
} finally {
  redis.disconnect();
}
