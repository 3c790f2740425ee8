import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renewWhile } from '../../core/index.js';
import { VirtualClock } from '../support/virtual-clock.js';

test('renewWhile: renews every period on the given scheduler until stopped', async () => {
  const clock = new VirtualClock();
  const lane = clock.lane();
  const at: number[] = [];
  const start = clock.now();
  const r = renewWhile(lane, 1_000, () => void at.push(clock.now() - start));
  await clock.advance(3_500);
  assert.equal(at, [1_000, 2_000, 3_000]);
  r.stop();
  await clock.advance(5_000);
  assert.equal(at.length, 3, 'nothing after stop');
  assert.ok(r.stopped);
});

test('renewWhile: a renewal still running is not doubled; false stops it; a rejection does not', async () => {
  const clock = new VirtualClock();
  const lane = clock.lane();
  let calls = 0;
  let release!: () => void;
  const r = renewWhile(lane, 100, () => {
    calls++;
    if (calls === 1) return new Promise<void>((res) => (release = res)); // a store that does not answer
    if (calls === 2) return Promise.reject(new Error('store away'));
    return calls < 4;
  });
  await clock.advance(1_000);
  assert.is(calls, 1, 'one call in flight, no pile-up');
  release();
  await clock.advance(100);
  assert.is(calls, 2);
  await clock.advance(250);
  assert.is(calls, 4, 'went on after the rejection, stopped at false');
  assert.ok(r.stopped);
  await clock.advance(1_000);
  assert.is(calls, 4);
});

test('renewWhile: frozen timers (a stalled process) renew nothing until thawed', async () => {
  const clock = new VirtualClock();
  const lane = clock.lane();
  let calls = 0;
  renewWhile(lane, 100, () => void calls++);
  lane.freeze();
  await clock.advance(1_000);
  assert.is(calls, 0);
  lane.thaw();
  await clock.advance(100);
  assert.ok(calls >= 1);
});

test.run();
