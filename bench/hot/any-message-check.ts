/**
 * What does an any-message leaf add to a send-time check's hot read? Method: `users` users sent
 * campaign L1 by email (a third of them clicked), written with foldEvents + RedisHotIndex.apply
 * (so the any-message pseudo-source holds them too); then, in turn, `rounds` reads of 100 random
 * user ids (RedisHotIndex.scores, what `check` sends: one read.lua call per source, one round
 * trip) for the leaves of "sent L1 and not clicked L1" and of "sent L1 and not engaged with
 * any message within 7 days" (L1's send, the pseudo-source's click and opens), and, like for
 * like with the first (one source read, two leaves), "sent by email and not clicked" over every
 * source (the pseudo-source alone), timed from Node (round trip included). Medians and p99 in
 * microseconds.
 *
 *   npx tsx bench/hot/any-message-check.ts [users=50000] [rounds=2000]
 */
import { Redis } from 'ioredis';
import { compile, foldEvents, parseFilter, parseSourceName, ANY_MESSAGE, ANY_MESSAGE_NAME, type InteractionEvent } from '../../core/index.js';
import { RedisHotIndex } from '../../storage/index.js';
import { rng } from '../../scripts/generate.js';

const users = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 2_000);
const ns = `bench_anyc_${Math.random().toString(36).slice(2, 8)}`;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const hot = new RedisHotIndex(redis, { namespace: ns });
const rand = rng(7);
const now = Date.now();
console.log(`any-message check: users ${users} (default 50000), rounds ${rounds} (default 2000), 100 ids per check, namespace ${ns}`);

const FILTERS = {
  'sent L1, not clicked L1': { and: [{ campaign: 'L1', event: 'send' }, { not: { campaign: 'L1', event: 'click' } }] },
  // Like for like with the first: one source read (the pseudo-source), two leaves of the new kinds.
  'sent by email, not clicked (any message)': { and: [{ any: 'message', event: 'send', channel: 'email' }, { not: { any: 'message', event: 'click' } }] },
  'sent L1, not engaged (any message, P7D)': { and: [{ campaign: 'L1', event: 'send' }, { not: { any: 'message', event: 'engaged', within: 'P7D' } }] },
};

try {
  for (let from = 0; from < users; from += 20_000) {
    const batch: InteractionEvent[] = [];
    for (let u = from; u < Math.min(users, from + 20_000); u++) {
      const source = { kind: 'campaign' as const, id: 'L1' };
      const t = now - Math.floor(rand() * 14 * 86_400_000);
      batch.push({ id: `s${u}`, type: 'send', userId: `u${u}`, source, channel: 'email', time: t });
      if (rand() < 0.3) batch.push({ id: `c${u}`, type: 'click', userId: `u${u}`, source, channel: 'email', time: t + 60_000 });
    }
    await hot.apply(foldEvents(batch));
  }
  for (const [name, raw] of Object.entries(FILTERS)) {
    const c = compile(parseFilter(raw), Date.now(), () => []);
    const ref = (s: string) => (s === ANY_MESSAGE_NAME ? ANY_MESSAGE : parseSourceName(s)!);
    const leaves = c.leaves.map((l) => ({ source: ref(l.source), index: l.index }));
    const sources = c.needsUniverse ? c.sources.map(ref) : [];
    const took: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const ids = Array.from({ length: 100 }, () => `u${Math.floor(rand() * users)}`);
      const t0 = performance.now();
      await hot.scores(leaves, sources, ids);
      took.push((performance.now() - t0) * 1000);
    }
    took.sort((a, b) => a - b);
    const q = (p: number) => Math.round(took[Math.min(took.length - 1, Math.floor(p * took.length))]!);
    console.log(`${name}: ${c.leaves.length} compiled leaves over ${new Set(c.leaves.map((l) => l.source)).size} sources; median ${q(0.5)} µs, p99 ${q(0.99)} µs`);
  }
} finally {
  await hot.unlinkNamespace();
  redis.disconnect();
}
