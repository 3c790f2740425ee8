import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, getJson, send, startStack, type Stack } from './helpers.js';
import { keySlot } from '../../storage/redis/slots.js';

/**
 * What only a Redis Cluster can get wrong: work spanning sources whose keys live on different
 * masters. These tests pass on a standalone Redis too; `npm run test:cluster` runs them (with
 * the whole integration suite) against three local masters.
 */
const test = suite<{ stack: Stack }>('redis cluster');

// Campaigns whose hash slots fall in the first, second and third of the slot space, which
// `redis-cli --cluster create` gives to three different masters.
const SPREAD = ['x4', 'x1', 'x3'] as const;

test.before(async (ctx) => {
  ctx.stack = await startStack();
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

test('the sources lie in three thirds of the slot space', () => {
  const thirds = SPREAD.map((id) => Math.floor(keySlot(`{campaign:${id}}`) / (16_384 / 3)));
  assert.equal(thirds, [0, 1, 2]);
});

test('a filter naming sources on every master: check, count, audience and user lookups', async ({ stack }) => {
  const ev = (id: string, type: string, userId: string, campaignId: string) => ({ id, type, userId, campaignId, time: Date.UTC(2026, 0, 1) });
  const events = [
    ev('a1', 'send', 'u0', 'x4'), ev('a2', 'send', 'u1', 'x4'),
    ev('b1', 'send', 'u2', 'x1'), ev('b2', 'send', 'u3', 'x1'), ev('b3', 'send', 'u4', 'x1'),
    ev('c1', 'click', 'u3', 'x3'), ev('c2', 'send', 'u5', 'x3'),
  ];
  await stack.publish(events);
  for (const [id, n] of [['x4', 2], ['x1', 3], ['x3', 2]] as const) {
    await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.history === n, `${id} ingested`);
  }
  await eventually(async () => stack.ts.engine!.inflight() === 0, 'hot writes done');

  // The universe of `not` is u0..u5: not(x3 click) = u0 u1 u2 u4 u5; with x1 send: u2 u4.
  const filter = { or: [{ campaign: 'x4', event: 'send' }, { and: [{ campaign: 'x1', event: 'send' }, { not: { campaign: 'x3', event: 'click' } }] }] };
  const expected = ['u0', 'u1', 'u2', 'u4'];
  const check = await send(stack.ts, 'POST', '/v1/retargeting/check', { filter, userIds: ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'] });
  assert.is(check.status, 200, JSON.stringify(check.body));
  assert.equal(check.body.matched, expected);
  const count = await send(stack.ts, 'POST', '/v1/retargeting/count', { filter });
  assert.is(count.status, 200, JSON.stringify(count.body));
  assert.is(count.body.count, 4);
  const page1 = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 3 });
  assert.is(page1.status, 200, JSON.stringify(page1.body));
  const page2 = await send(stack.ts, 'POST', '/v1/retargeting/audience', { filter, limit: 3, cursor: page1.body.cursor });
  assert.equal([...page1.body.users, ...page2.body.users], expected);
  assert.is(page2.body.cursor, null);

  const user = await getJson(stack.ts, '/v1/users/u3/interactions?sources=campaign:x4,campaign:x1,campaign:x3');
  assert.is(user.status, 200, JSON.stringify(user.body));
  assert.equal(user.body.sources.map((s: { source: string; latest?: object }) => [s.source, Object.keys(s.latest ?? {})]), [
    ['campaign:x4', []], ['campaign:x1', ['send']], ['campaign:x3', ['click']],
  ]);
});

test.run();
