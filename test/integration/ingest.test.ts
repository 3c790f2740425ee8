import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, startStack, type Stack } from './helpers.js';
import { generateEvents, type WireEvent } from '../../scripts/generate.js';
import { formatTime } from '../../core/time.js';

const test = suite<{ stack: Stack }>('ingest');

test.before(async (ctx) => {
  ctx.stack = await startStack();
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

/** What the contract says a user lookup returns, computed by brute force from the events. */
function expectedInteractions(events: WireEvent[], userId: string, source: string) {
  const latest: Record<string, number> = {};
  const variants: Record<string, Record<string, number>> = {};
  const steps: Record<string, Record<string, number>> = {};
  const max = (o: Record<string, number>, k: string, t: number) => (o[k] = Math.max(o[k] ?? t, t));
  for (const e of events) {
    const s = e.campaignId !== undefined ? `campaign:${e.campaignId}` : `canvas:${e.canvasId}`;
    if (e.userId !== userId || s !== source) continue;
    max(latest, e.type, e.time);
    if (e.variantId) max((variants[e.variantId] ??= {}), e.type, e.time);
    if (e.stepId) max((steps[e.stepId] ??= {}), e.type, e.time);
  }
  const iso = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, t]) => [k, formatTime(t)]));
  return {
    latest: iso(latest),
    variants: Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, iso(v)])),
    steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, iso(v)])),
  };
}

const events = [...generateEvents({ count: 3_000, campaigns: 3, users: 60, variants: 2, canvasShare: 0.3, seed: 7, idPrefix: 'ing' })];
const sources = [...new Set(events.map((e) => (e.campaignId !== undefined ? `campaign:${e.campaignId}` : `canvas:${e.canvasId}`)))];

async function historyCounts(stack: Stack) {
  const counts: Record<string, { hot: number | null; history: number }> = {};
  for (const s of sources) {
    const [kind, id] = s.split(':') as [string, string];
    const res = await getJson(stack.ts, `/v1/${kind === 'campaign' ? 'campaigns' : 'canvases'}/${id}`);
    if (res.status !== 200) return undefined;
    counts[s] = res.body.counts;
  }
  return counts;
}

test('published events are counted exactly and their latest times are right', async ({ stack }) => {
  // Shuffle: the state must not depend on arrival order.
  const shuffled = [...events].sort((a, b) => (a.id.length * 31 + a.time) % 7 - (b.id.length * 31 + b.time) % 7);
  await stack.publish(shuffled);
  const expected = Object.fromEntries(
    sources.map((s) => {
      const of = events.filter((e) => (e.campaignId !== undefined ? `campaign:${e.campaignId}` : `canvas:${e.canvasId}`) === s);
      return [s, { hot: new Set(of.map((e) => e.userId)).size, history: of.length }];
    }),
  );
  const counts = await eventually(async () => {
    const c = await historyCounts(stack);
    return c && JSON.stringify(c) === JSON.stringify(expected) ? c : undefined;
  }, 'counts to match');
  assert.equal(counts, expected);

  let machineOpens = 0;
  for (const userId of ['u0', 'u7', 'u8', 'u59']) {
    const res = await getJson(stack.ts, `/v1/users/${userId}/interactions?sources=${sources.join(',')}`);
    assert.is(res.status, 200);
    for (const s of res.body.sources) {
      if (s.latest.machine_open !== undefined) machineOpens++;
      assert.is(s.tier, 'hot');
      assert.equal({ latest: s.latest, variants: s.variants, steps: s.steps }, expectedInteractions(events, userId, s.source), `${userId} ${s.source}`);
    }
    const hist = await getJson(stack.ts, `/v1/users/${userId}/interactions?sources=${sources.join(',')}&from=history`);
    assert.is(hist.body.servedFrom, 'history');
    assert.equal(hist.body.sources.map((s: any) => s.latest), res.body.sources.map((s: any) => s.latest));
  }
  // u8 reads mail behind a prefetching proxy: machine opens are kept apart from opens.
  assert.ok(machineOpens > 0, 'machine opens appear in user interactions');
});

test('duplicates and replays change nothing', async ({ stack }) => {
  const before = await historyCounts(stack);
  const users = await getJson(stack.ts, `/v1/users/u7/interactions?sources=${sources.join(',')}`);
  // Same ids under new message ids (past the server's dedup), and in reverse order.
  await stack.publish([...events].reverse().slice(0, 1_500), { msgId: (_e, i) => `replay-${i}` });
  // A marker event proves the replay has been consumed before we compare.
  await stack.publish([{ id: 'marker', type: 'send', userId: 'zz', campaignId: 'marker', time: 1 }]);
  await eventually(async () => (await getJson(stack.ts, '/v1/campaigns/marker')).body.counts?.history === 1, 'marker');
  await eventually(async () => Number((await stack.ts.metrics.eventsIngested.get()).values[0]?.value) >= 4_501, 'replay ingested');
  assert.equal(await historyCounts(stack), before);
  assert.equal(await getJson(stack.ts, `/v1/users/u7/interactions?sources=${sources.join(',')}`), users);
});

test('unknown sources and bad ids answer clearly', async ({ stack }) => {
  assert.equal((await getJson(stack.ts, '/v1/campaigns/nope')).body.error, 'source_not_found');
  assert.is((await getJson(stack.ts, '/v1/campaigns/bad*id')).status, 400);
  assert.is((await getJson(stack.ts, "/v1/users/u'1/interactions?sources=campaign:c0")).status, 400);
  const unknown = await getJson(stack.ts, '/v1/users/u1/interactions?sources=campaign:nope');
  assert.equal(unknown.body.sources, [{ source: 'campaign:nope', tier: null }]);
});

test.run();
