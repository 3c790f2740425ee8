import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type NatsConnection } from 'nats';
import {
  MAX_TRANSITIONS, TIERS, expiringSources, mirrorRecord, newSourceRecord, pendingNotices, sourceName, summarizeSources,
  type SourceKind, type SourceRecord, type SourceRef, type Tier,
} from '../../core/index.js';
import { NatsKvRegistry, registryKey } from '../../storage/nats/index.js';
import { eventually, testConfig, testNamespace } from './helpers.js';

/**
 * The registry's maintained indexes (summary, name order, expiry order, tier sets, tags, pins)
 * against a full scan of the whole records, after random changes made by two processes'
 * registries on one bucket (real NATS): each mirror's answers equal the scan's.
 */
const test = suite('registry indexes');
const DAY = 86_400_000;

let nc: NatsConnection;
let ns: string;
let a: NatsKvRegistry;
let b: NatsKvRegistry;

test.before(async () => {
  ns = testNamespace();
  nc = await connect({ servers: testConfig(ns).natsServers });
  a = await NatsKvRegistry.open(nc.jetstream(), ns);
  b = await NatsKvRegistry.open(nc.jetstream(), ns);
});
test.after(async () => {
  b?.stop();
  await a?.destroy();
  await nc?.close();
});

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every whole record, read from the bucket. */
async function scan(reg: NatsKvRegistry): Promise<SourceRecord[]> {
  const keys: string[] = [];
  for await (const key of await reg.store.kv.keys()) keys.push(key);
  const got = await Promise.all(keys.map((k) => reg.store.get(k)));
  return got.flatMap((g) => (g ? [g.doc] : []));
}

const byName = (x: SourceRef, y: SourceRef) => (sourceName(x) < sourceName(y) ? -1 : sourceName(x) > sourceName(y) ? 1 : 0);
const names = (recs: Iterable<SourceRef>) => [...recs].map(sourceName);

async function assertIndexes(reg: NatsKvRegistry, label: string): Promise<void> {
  const full = await scan(reg);
  // The mirror has caught up with the bucket first (both processes wrote to it).
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  await eventually(async () => (reg.size() === full.length && full.every((r) => same(reg.peek(r), mirrorRecord(r)))) || undefined, `${label}: mirror caught up`);
  const now = Date.now();
  assert.equal(reg.summary(now, 100), summarizeSources(full, now, 100), `${label}: summary`);
  assert.equal(reg.summary(now, 7), summarizeSources(full, now, 7), `${label}: summary of 7 transitions`);
  assert.equal(names(reg.inOrder()), names([...full].sort(byName)), `${label}: name order`);
  const mid = [...full].sort(byName)[Math.floor(full.length / 2)]!;
  assert.equal(names(reg.inOrder(mid)), names([...full].sort(byName).filter((r) => byName(r, mid) > 0)), `${label}: name order after a cursor`);
  for (const until of [now, now + 7 * DAY, now + 40 * DAY]) {
    const want = expiringSources(full, until);
    assert.equal(names(reg.expiring(until)), names(want), `${label}: expiring by ${until - now}`);
    assert.is(reg.countExpiring(until), want.length, `${label}: expiring count`);
    if (want.length > 2) {
      const c = { expiresAt: want[1]!.expiresAt!, source: sourceName(want[1]!) };
      assert.equal(names(reg.expiring(until, c)), names(expiringSources(full, until, c)), `${label}: expiring after a cursor`);
    }
  }
  for (const tier of ['restoring', 'demoting'] as const) {
    assert.equal(names(reg.inTier(tier)!.sort(byName)), names(full.filter((r) => r.tier === tier).sort(byName)), `${label}: ${tier}`);
  }
  for (const tag of ['t0', 't1', 't2']) {
    assert.equal(names(reg.taggedRecords(tag).sort(byName)), names(full.filter((r) => r.tags.includes(tag)).sort(byName)), `${label}: tag ${tag}`);
  }
  for (const f of ['f0', 'f1', 'f2']) {
    assert.equal(names(reg.pinned(f).sort(byName)), names(full.filter((r) => r.pinnedBy.includes(f)).sort(byName)), `${label}: pinned by ${f}`);
  }
  for (const r of full) {
    // The compact record answers the notices as the whole one does, and every field but the trail is the same.
    const m = reg.peek(r)!;
    assert.equal(pendingNotices(m), pendingNotices(r), `${label}: notices of ${sourceName(r)}`);
    const { transitions: _t, notified: _n, ...rest } = r;
    const { transitions: _mt, notified: _mn, ...mrest } = m;
    assert.equal({ ...mrest, pendingRestore: mrest.pendingRestore ?? false }, { ...rest, pendingRestore: rest.pendingRestore ?? false }, `${label}: fields of ${sourceName(r)}`);
  }
}

test('after random changes by two processes, every index equals a full scan', async () => {
  const rnd = random(22);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const refs: SourceRef[] = Array.from({ length: 60 }, (_, i) => ({ kind: (i % 3 === 0 ? 'canvas' : 'campaign') as SourceKind, id: `s${i}` }));
  let clock = Date.now() - 10 * DAY;
  for (let round = 0; round < 3; round++) {
    const ops: Promise<unknown>[] = [];
    for (let n = 0; n < 150; n++) {
      const reg = rnd() < 0.5 ? a : b;
      const ref = pick(refs);
      const op = rnd();
      clock += 1 + Math.floor(rnd() * 1_000);
      const at = clock;
      if (op < 0.08) {
        ops.push(reg.store.delete(registryKey(ref)));
        continue;
      }
      ops.push(
        reg.update(ref, (cur) => {
          const rec = cur ?? newSourceRecord(ref, at);
          if (op < 0.45) {
            // A transition, sometimes a burst that pushes the trail past its 100.
            const burst = rnd() < 0.05 ? MAX_TRANSITIONS + 5 : 1;
            let next = rec;
            // Times rise along a trail, as summarizeSources assumes (ops run in any order: their clocks do not).
            const from = Math.max(at, (rec.transitions[rec.transitions.length - 1]?.at ?? 0) + 1);
            for (let k = 0; k < burst; k++) {
              // Never the tier it is in: a source makes no two alike in one millisecond (core/tiers/notices.ts).
              const tier = pick(TIERS.filter((t) => t !== next.tier));
              next = { ...next, tier, transitions: [...next.transitions, { tier, at: from + k, reason: `r${k}` }].slice(-MAX_TRANSITIONS),
                restore: tier === 'restoring' ? { startedAt: at, finishedAt: null, progress: rnd(), progressAt: at } : next.restore };
            }
            return next;
          }
          if (op < 0.6) return { ...rec, tags: rnd() < 0.3 ? [] : [pick(['t0', 't1', 't2'])], name: rnd() < 0.5 ? null : pick(['Alpha', 'Beta']) };
          if (op < 0.75) return { ...rec, pinnedBy: rnd() < 0.4 ? [] : [pick(['f0', 'f1', 'f2'])].sort() };
          if (op < 0.9) {
            const stopped = rnd() < 0.7;
            return { ...rec, status: stopped ? 'stopped' : 'active', stoppedAt: stopped ? at : null, expiresAt: stopped ? Date.now() + Math.floor(rnd() * 40) * DAY : null };
          }
          // A notice marked published, sometimes for the last transition, sometimes an earlier one.
          const t = rec.transitions[rnd() < 0.6 ? rec.transitions.length - 1 : 0];
          return t ? { ...rec, notified: { at: t.at, tier: t.tier } } : undefined;
        }),
      );
    }
    await Promise.all(ops);
    await assertIndexes(a, `round ${round}, process a`);
    await assertIndexes(b, `round ${round}, process b`);
  }
});

test('a third process that opens the bucket later builds the same indexes from the watch', async () => {
  const c = await NatsKvRegistry.open(nc.jetstream(), ns);
  try {
    await assertIndexes(c, 'late process');
  } finally {
    c.stop();
  }
});

test.run();
