import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildApp, type AppDeps } from '../../api/index.js';
import { parseApiKeys } from '../../api/auth.js';
import { createMetrics } from '../../metrics.js';
import type { EventSink } from '../../core/index.js';

const INGEST = 'ingest-key-0123456789';
const ADMIN = 'admin-key-0123456789';
const LOOKUP = 'lookup-key-0123456789';

function app(sink: EventSink) {
  return buildApp({
    metrics: createMetrics({ defaultMetrics: false }),
    events: sink,
    apiKeys: parseApiKeys(`${INGEST}:ingest;${ADMIN}:admin;${LOOKUP}:lookup`),
  } as unknown as AppDeps, { logger: false });
}
const event = { id: 'e1', type: 'send', userId: 'u1', campaignId: 'A', time: 1_000 };
const published: string[] = [];
const okSink: EventSink = { publish: async (type, _data, msgId) => (published.push(`${type}:${msgId}`), 'stored') };

test('scope ingest: an ingest or admin key may publish, a lookup key may not; an ingest key may not look up', async () => {
  const a = app(okSink);
  const post = (key: string, url = '/v1/events') => a.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` }, payload: { events: [event] } });
  assert.is((await post(INGEST)).statusCode, 200);
  assert.is((await post(ADMIN)).statusCode, 200);
  const refused = await post(LOOKUP);
  assert.is(refused.statusCode, 403);
  assert.match(refused.json().message, /"ingest" scope/);
  assert.is((await post(LOOKUP, '/v1/ingest/braze-currents')).statusCode, 403);
  assert.is((await post(LOOKUP, '/v1/ingest/segment')).statusCode, 403);
  const lookup = await a.inject({ method: 'POST', url: '/v1/retargeting/count', headers: { authorization: `Bearer ${INGEST}` }, payload: {} });
  assert.is(lookup.statusCode, 403);
  assert.equal(published, ['send:e1', 'send:e1']);
  // Dead letters are the admin's: an ingest key may neither read nor replay them.
  assert.is((await a.inject({ method: 'GET', url: '/v1/dead-letters', headers: { authorization: `Bearer ${INGEST}` } })).statusCode, 403);
  assert.is((await a.inject({ method: 'POST', url: '/v1/dead-letters/replay', headers: { authorization: `Bearer ${INGEST}` }, payload: { seqs: [1] } })).statusCode, 403);
  await a.close();
});

test('JetStream not storing an event answers 503 store_unavailable (the batch can be sent again)', async () => {
  const a = app({ publish: async () => { throw Object.assign(new Error('no responders'), { code: '503' }); } });
  const res = await a.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${INGEST}` }, payload: { events: [event] } });
  assert.is(res.statusCode, 503);
  assert.is(res.json().error, 'store_unavailable');
  assert.is(res.headers['retry-after'], '1');
  await a.close();
});

test.run();
