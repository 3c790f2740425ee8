import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newSourceRecord, type History, type HotIndex, type SourceRecord, type SourceRef } from '../../core/index.js';
import { stateOf, statesOf } from '../../api/state.js';

/**
 * counts.history in state answers and listings is not recounted (uniqExact over the events) on
 * every read: a count is reused for a time in proportion to what it cost, at most 30 s, and
 * recounted at once when the source made a transition since.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeHistory(costMs: number) {
  const calls: string[][] = [];
  let events = 10;
  const history = {
    async countEvents(s: SourceRef) {
      calls.push([`${s.kind}:${s.id}`]);
      await sleep(costMs);
      return events;
    },
    async countEventsBySource(sources: readonly SourceRef[]) {
      calls.push(sources.map((s) => `${s.kind}:${s.id}`));
      await sleep(costMs);
      return new Map(sources.map((s) => [`${s.kind}:${s.id}`, events]));
    },
  } as unknown as History;
  return { history, calls, setEvents: (n: number) => void (events = n) };
}
const hot = { countUsers: async () => 1, countUsersBySource: async () => new Map() } as unknown as HotIndex;
const rec = (id: string, at = 0): SourceRecord => ({ ...newSourceRecord({ kind: 'campaign', id }, at) });

test('a GET after a GET reuses the count; a page counts only the sources it has no fresh count of', async () => {
  const { history, calls, setEvents } = fakeHistory(20);
  const a = rec('A');
  assert.is((await stateOf({ hot, history }, a)).counts.history, 10);
  setEvents(11);
  assert.is((await stateOf({ hot, history }, a)).counts.history, 10, 'the count of a moment ago');
  const page = await statesOf({ hot, history }, [a, rec('B')]);
  assert.equal(page.map((s) => s.counts.history), [10, 11]);
  assert.equal(calls, [['campaign:A'], ['campaign:B']]);
});

test('the count is reused for at most 50 times what it cost, then recounted', async () => {
  const { history, calls, setEvents } = fakeHistory(2);
  const a = rec('C');
  await stateOf({ hot, history }, a);
  setEvents(12);
  await sleep(2 * 50 + 250); // the query took 2 ms and some: well past 50 times that
  assert.is((await stateOf({ hot, history }, a)).counts.history, 12);
  assert.is(calls.length, 2);
});

test('a transition of the source since the count: recounted at once', async () => {
  const { history, calls, setEvents } = fakeHistory(20);
  const a = rec('D');
  await stateOf({ hot, history }, a);
  setEvents(13);
  const moved: SourceRecord = { ...a, tier: 'demoting', transitions: [...a.transitions, { tier: 'demoting', at: 5, reason: 'stopped' }] };
  assert.is((await stateOf({ hot, history }, moved)).counts.history, 13);
  assert.is(calls.length, 2);
});


test('an erasure finished since a count makes it stale: the next read recounts', async () => {
  const { history, calls, setEvents } = fakeHistory(20);
  let finished = 0;
  const stores = { hot, history, erasures: { finished: () => finished } };
  const a = rec('E');
  assert.is((await stateOf(stores, a)).counts.history, 10);
  setEvents(7);
  assert.is((await stateOf(stores, a)).counts.history, 10, 'reused while no erasure finished');
  finished++;
  assert.is((await stateOf(stores, a)).counts.history, 7, 'recounted after an erasure finished');
  assert.is(calls.length, 2);
});

test.run();
