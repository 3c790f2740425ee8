import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { JsMsg } from 'nats';
import { CumulativeAcker, createAcker } from '../../engine/ingest/acks.js';
import { AckLease, type LeaseDoc, type LeaseStore } from '../../engine/ingest/ack-lease.js';
import { rng } from '../../scripts/generate.js';

/** A message that records what was sent for it. */
function msg(seq: number, sent: string[]): JsMsg {
  return { seq, ack: () => sent.push(`ack ${seq}`), term: () => sent.push(`term ${seq}`) } as unknown as JsMsg;
}

test('cumulative: one ack per settle, on the highest sequence below every unsettled one', () => {
  const sent: string[] = [];
  const acker = new CumulativeAcker();
  const m = Array.from({ length: 10 }, (_, i) => msg(i + 1, sent));
  for (const x of m) acker.delivered(x);
  // Batch 6..10 finishes first: 1..5 are still being written, nothing may be acknowledged.
  acker.settle(m.slice(5));
  assert.equal(sent, []);
  // Batch 1..5 finishes: everything is settled, one ack on 10 covers all.
  acker.settle(m.slice(0, 5));
  assert.equal(sent, ['ack 10']);
  assert.is(acker.outstanding, 0);
});

test('cumulative: a dead letter is covered by the ack, never terminated', () => {
  const sent: string[] = [];
  const acker = createAcker('cumulative');
  const m = [1, 2, 3].map((s) => msg(s, sent));
  for (const x of m) acker.delivered(x);
  acker.settle(m, (i) => i === 2);
  assert.equal(sent, ['ack 3']);
});

test('cumulative: a message delivered again after an ack covered it (the ack was lost) is acknowledged again', () => {
  const sent: string[] = [];
  const acker = new CumulativeAcker();
  const m = [1, 2, 3].map((s) => msg(s, sent));
  for (const x of m) acker.delivered(x);
  acker.settle(m);
  assert.equal(sent, ['ack 3']);
  const again = [1, 2, 3].map((s) => msg(s, sent));
  for (const x of again) acker.delivered(x);
  acker.settle(again.slice(0, 2));
  assert.equal(sent, ['ack 3', 'ack 2'], 'below every unsettled copy: acknowledged again');
  acker.settle(again.slice(2));
  assert.equal(sent, ['ack 3', 'ack 2', 'ack 3']);
  assert.is(acker.coveredSeq, 3);
});

test('explicit: each message acked, dead letters terminated', () => {
  const sent: string[] = [];
  const acker = createAcker('explicit');
  const m = [1, 2, 3].map((s) => msg(s, sent));
  for (const x of m) acker.delivered(x);
  acker.settle(m, (i) => i === 1);
  assert.equal(sent, ['ack 1', 'term 2', 'ack 3']);
});

test('cumulative: a redelivery overlapping its original holds the ack until both settle', () => {
  const sent: string[] = [];
  const acker = new CumulativeAcker();
  const a = [1, 2, 3].map((s) => msg(s, sent));
  for (const x of a) acker.delivered(x);
  const again = msg(2, sent); // the ack wait ran out while 2 was being written
  acker.delivered(again);
  acker.settle([a[0]!, a[1]!, a[2]!]);
  assert.equal(sent, ['ack 1'], 'the second copy of 2 is unsettled: 2 and 3 may not be covered');
  acker.settle([again]);
  assert.equal(sent, ['ack 1', 'ack 3']);
});

test('cumulative: random completion orders never cover an unsettled message', () => {
  const next = rng(7);
  for (let round = 0; round < 300; round++) {
    const sent: string[] = [];
    const acker = new CumulativeAcker();
    const n = 1 + Math.floor(next() * 60);
    const msgs = Array.from({ length: n }, (_, i) => msg(i + 1, sent));
    const settled = new Set<number>();
    let delivered = 0;
    let pending: JsMsg[] = [];
    while (settled.size < n) {
      // Deliver some, sometimes redeliver an unsettled one, settle a random subset.
      for (let k = Math.floor(next() * 8); k > 0 && delivered < n; k--) {
        const m = msgs[delivered++]!;
        acker.delivered(m);
        pending.push(m);
      }
      if (pending.length && next() < 0.2) {
        const again = pending[Math.floor(next() * pending.length)]!;
        const copy = msg(again.seq, sent);
        acker.delivered(copy);
        pending.push(copy);
      }
      const now = pending.filter(() => next() < 0.5);
      pending = pending.filter((m) => !now.includes(m));
      if (now.length) acker.settle(now);
      for (const m of now) if (!pending.some((p) => p.seq === m.seq)) settled.add(m.seq);
      // Every sequence an ack covers is settled in every copy.
      const covered = Math.max(0, ...sent.map((s) => Number(s.split(' ')[1])));
      for (const p of pending) assert.ok(p.seq > covered, `round ${round}: ack ${covered} covers unsettled ${p.seq}`);
      if (delivered === n && pending.length === 0) break;
    }
    assert.is(acker.coveredSeq, n, `round ${round}: the last ack covers everything`);
  }
});

/** The lease document in memory, with compare-and-set semantics trivially (one thread). */
function memoryStore(): { store: LeaseStore; doc: () => LeaseDoc | null } {
  let doc: LeaseDoc | null = null;
  return {
    doc: () => doc,
    store: async (fn) => {
      const next = fn(doc ? structuredClone(doc) : null);
      if (next === undefined) return { doc, changed: false };
      doc = next;
      return { doc, changed: true };
    },
  };
}

test('lease: exclusive excludes everyone, shared excludes only exclusive, lapsed entries do not count', async () => {
  let now = 1_000;
  const { store } = memoryStore();
  const lost: string[] = [];
  const mk = (id: string) => new AckLease(store, { id, leaseMs: 10_000, now: () => now }, () => lost.push(id));
  const a = mk('a');
  const b = mk('b');
  const c = mk('c');
  assert.ok(await a.tryAcquire('exclusive'));
  assert.not.ok(await b.tryAcquire('shared'), 'exclusive holder blocks shared');
  assert.not.ok(await b.tryAcquire('exclusive'));
  now += 10_001; // a's process died: its entry lapsed
  assert.ok(await b.tryAcquire('shared'));
  assert.ok(await c.tryAcquire('shared'), 'shared holders coexist');
  assert.not.ok(await a.tryAcquire('exclusive'), 'shared holders block exclusive');
  // a wakes up from its pause: its entry lapsed and shared holders are live, so it lost it.
  await a.renew();
  assert.equal(lost, ['a']);
  assert.is(a.held, undefined);
  await b.release();
  await c.release();
  assert.ok(await a.tryAcquire('exclusive'), 'released leases need not lapse');
});

test('lease: a lapsed entry is taken again at renewal when nothing conflicts', async () => {
  let now = 0;
  const { store, doc } = memoryStore();
  const lost: string[] = [];
  const a = new AckLease(store, { id: 'a', leaseMs: 1_000, now: () => now }, () => lost.push('a'));
  assert.ok(await a.tryAcquire('exclusive'));
  now = 5_000; // a long pause, nobody else came
  await a.renew();
  assert.equal(lost, []);
  assert.is(doc()?.holders.a?.until, 6_000);
  await a.release();
  assert.equal(doc()?.holders, {});
});

test('lease: a holder whose process is gone (no responders) does not block, one that answers does', async () => {
  const { store } = memoryStore();
  const dead = new Set<string>();
  const mk = (id: string) => new AckLease(store, { id, leaseMs: 60_000, alive: async (x) => !dead.has(x) }, () => undefined);
  const a = mk('a');
  const b = mk('b');
  assert.ok(await a.tryAcquire('exclusive'));
  assert.not.ok(await b.tryAcquire('exclusive'), 'a answers: b waits');
  dead.add('a'); // a was SIGKILLed: its connection, and its subscription, are gone
  assert.ok(await b.tryAcquire('exclusive'), 'b takes over at once, not after 60 s');
});

test.run();
