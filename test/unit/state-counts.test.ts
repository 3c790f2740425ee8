import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newSourceRecord, type History, type HotIndex, type SourceRecord, type SourceRef } from '../../core/index.js';
import { stateOf, statesOf } from '../../api/state.js';

/**
 * counts.history in state answers and listings is history's maintained count, read at each
 * request (no reuse: a change shows at once); reads asked while the same read is under way
 * share it (api/state.ts, inFlightCounts).
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeHistory(costMs: number) {
  const calls: string[][] = [];
  let events = 10;
  const history = {
    async countEventsBySource(sources: readonly SourceRef[]) {
      calls.push(sources.map((s) => `${s.kind}:${s.id}`));
      const n = events;
      await sleep(costMs);
      return new Map(sources.map((s) => [`${s.kind}:${s.id}`, n]));
    },
  } as unknown as History;
  return { history, calls, setEvents: (n: number) => void (events = n) };
}
const hot = { countUsers: async () => 1, countUsersBySource: async () => new Map() } as unknown as HotIndex;
const rec = (id: string): SourceRecord => newSourceRecord({ kind: 'campaign', id }, 0);

test('a burst of GETs of one source is one count read; the next GET reads again and sees a change', async () => {
  const { history, calls, setEvents } = fakeHistory(20);
  const a = rec('A');
  const burst = await Promise.all(Array.from({ length: 50 }, () => stateOf({ hot, history }, a)));
  assert.ok(burst.every((s) => s.counts.history === 10));
  assert.is(calls.length, 1, 'one read for the burst');
  setEvents(11);
  assert.is((await stateOf({ hot, history }, a)).counts.history, 11, 'read again once the first settled');
  assert.is(calls.length, 2);
});

test('pages share a read only when they ask the same sources; a page and a GET do not', async () => {
  const { history, calls } = fakeHistory(20);
  const [a, b] = [rec('A'), rec('B')];
  const [p1, p2, p3, one] = await Promise.all([
    statesOf({ hot, history }, [a, b]),
    statesOf({ hot, history }, [b, a]),
    statesOf({ hot, history }, [a]),
    stateOf({ hot, history }, b),
  ]);
  assert.equal([p1.map((s) => s.counts.history), p2.map((s) => s.counts.history), p3.length, one.counts.history], [[10, 10], [10, 10], 1, 10]);
  assert.equal(calls.map((c) => c.sort().join()).sort(), ['campaign:A', 'campaign:A,campaign:B', 'campaign:B']);
});

test.run();
