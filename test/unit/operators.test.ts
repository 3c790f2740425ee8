import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestScheduler } from 'rxjs/testing';
import { asyncScheduler, from, lastValueFrom, of, tap } from 'rxjs';
import { batch } from '../../engine/operators/batch.js';
import { writeBatches } from '../../engine/operators/write-batches.js';

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

test.run();
