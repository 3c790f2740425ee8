import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestScheduler } from 'rxjs/testing';
import { asyncScheduler, from, lastValueFrom, of, tap } from 'rxjs';
import { batch } from '../../engine/ingest/operators/batch.js';
import { writeBatches } from '../../engine/ingest/operators/write-batches.js';

const scheduler = () => new TestScheduler((actual, expected) => assert.equal(actual, expected));

test('batch: closes on size or on time, flushes on completion, never emits empty', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = cold('a b c d 200ms e |');
    // size 3 closes at frame 2; the next batch opens then and its 100 ms timer closes [d] at 102;
    // the window opened at 202 holds e (frame 204), flushed when the source completes (205).
    expectObservable(src.pipe(batch(3, 100))).toBe('2ms x 99ms y 102ms (z|)', {
      x: ['a', 'b', 'c'],
      y: ['d'],
      z: ['e'],
    });
  });
});

test('writeBatches: retries with growing backoff, emits only after the write succeeded', async () => {
  let calls = 0;
  const delays: number[] = [];
  const write = async () => {
    calls++;
    if (calls < 4) throw new Error('down');
  };
  const emitted: number[][] = [];
  const out = of([1, 2]).pipe(
    writeBatches(write, {
      concurrency: 1, backoffBaseMs: 1, backoffMaxMs: 3,
      onError: (_e, _b, n) => delays.push(Math.min(2 ** (n - 1), 3)),
      scheduler: asyncScheduler,
    }),
    tap((b) => {
      // The write that succeeded is the fourth; nothing was emitted before it.
      assert.is(calls, 4);
      emitted.push(b);
    }),
  );
  await lastValueFrom(out);
  assert.equal(emitted, [[1, 2]]);
  assert.equal(delays, [1, 2, 3]);
});

test('writeBatches: bounds the batches in flight', async () => {
  let active = 0;
  let peak = 0;
  const write = async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 2));
    active--;
  };
  await lastValueFrom(from([[1], [2], [3], [4], [5], [6]]).pipe(writeBatches(write, { concurrency: 2, backoffBaseMs: 1, backoffMaxMs: 1 })));
  assert.is(peak, 2);
});

const opts = { concurrency: 1, backoffBaseMs: 1, backoffMaxMs: 1, maxAttempts: 3, rejectable: () => true, scheduler: asyncScheduler };

test('writeBatches: a batch failing while the stores answer is bisected; only the items that fail alone are rejected', async () => {
  const written: string[] = [];
  let writes = 0;
  const write = async (b: string[]) => {
    writes++;
    if (b.some((x) => x.startsWith('poison'))) throw new Error(`rejected: ${b.find((x) => x.startsWith('poison'))}`);
    written.push(...b);
  };
  const items = Array.from({ length: 16 }, (_, i) => (i === 5 || i === 11 ? `poison${i}` : `ok${i}`));
  const out = await lastValueFrom(
    of(items).pipe(writeBatches(write, { ...opts, healthy: async () => true, reject: (x, err) => `dead:${x}:${(err as Error).message}` })),
  );
  assert.is(out, items, 'the same array is emitted');
  assert.equal(out.filter((x) => x.startsWith('dead:')), ['dead:poison5:rejected: poison5', 'dead:poison11:rejected: poison11']);
  // Every good item written exactly once; the rejects written as their replacement.
  assert.equal(written.filter((x) => x.startsWith('ok')).sort(), items.filter((x) => x.startsWith('ok')).sort());
  assert.equal(written.filter((x) => x.startsWith('dead:')).length, 2);
  assert.ok(writes < 40, `bounded: ${writes} writes`);
});

test('writeBatches: a store that answers its ping but refuses every write rejects nothing and is retried at bounded cost', async () => {
  let writes = 0;
  let refusing = true;
  const write = async () => {
    writes++;
    if (writes === 200) refusing = false; // the store recovers after 200 refused writes
    if (refusing) throw new Error('Too many parts');
  };
  const rejected: number[] = [];
  const items = Array.from({ length: 1_000 }, (_, i) => i);
  const out = await lastValueFrom(
    of(items).pipe(writeBatches(write, { ...opts, healthy: async () => true, reject: (x) => (rejected.push(x), -x) })),
  );
  // No write ever succeeded while it refused: no evidence against any item, so none rejected;
  // splits stop at 8 parts (3 levels) instead of fanning out to 1,000 single items.
  assert.equal(rejected, []);
  assert.equal(out, items);
  assert.ok(writes < 260, `at most 8 parts retried per round: ${writes} writes`);
});

test('writeBatches: while the stores do not answer, a failing batch is retried without limit and nothing is rejected', async () => {
  let calls = 0;
  const write = async () => {
    calls++;
    if (calls <= 25) throw new Error('connect ECONNREFUSED');
  };
  const rejected: number[] = [];
  const out = await lastValueFrom(
    of([1, 2, 3]).pipe(writeBatches(write, { ...opts, healthy: async () => calls > 25, reject: (x) => (rejected.push(x), -x) })),
  );
  assert.equal(out, [1, 2, 3]);
  assert.equal(rejected, []);
  assert.is(calls, 26, 'never split while the store was down: one write per attempt');
});

test('writeBatches: failures that are not the data\'s fault (rejectable false) are never bounded', async () => {
  let calls = 0;
  const write = async () => {
    calls++;
    if (calls <= 30) throw new Error('hot index write failed');
  };
  const rejected: number[] = [];
  const out = await lastValueFrom(
    of([1, 2]).pipe(writeBatches(write, { ...opts, rejectable: () => false, healthy: async () => true, reject: (x) => (rejected.push(x), -x) })),
  );
  assert.equal(out, [1, 2]);
  assert.equal(rejected, []);
  assert.is(calls, 31);
});

test.run();
