import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, startStack } from './helpers.js';

test('two namespaces on the same servers never see each other', async () => {
  const [a, b] = await Promise.all([startStack(), startStack()]);
  try {
    // Same event ids and sources in both: only the namespace tells them apart.
    const ev = (i: number, user: string) => ({ id: `e${i}`, type: 'open', userId: user, campaignId: 'shared', time: 10_000 + i });
    await a.publish([ev(1, 'alice'), ev(2, 'alice')]);
    await b.publish([ev(1, 'bob'), ev(2, 'bob'), ev(3, 'bob')]);
    await eventually(async () => (await getJson(a.ts, '/v1/campaigns/shared')).body.counts?.history === 2, 'a stored');
    await eventually(async () => (await getJson(b.ts, '/v1/campaigns/shared')).body.counts?.history === 3, 'b stored');
    const ua = await getJson(a.ts, '/v1/users/bob/interactions?sources=campaign:shared');
    assert.equal(ua.body.sources[0].latest, {});
    const ub = await getJson(b.ts, '/v1/users/bob/interactions?sources=campaign:shared');
    assert.equal(ub.body.sources[0].latest, { open: new Date(10_003).toISOString() });
    assert.is((await getJson(a.ts, '/v1/campaigns/shared')).body.counts.hot, 1);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test.run();
