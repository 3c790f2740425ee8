import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { OpenAPI3 } from 'openapi-typescript';
import type { Client, Schemas } from '../../client/index.js';
import { documentedClient } from './client.js';
import { eventually, startStack, type Stack } from './helpers.js';

/**
 * The contract's flows through the typed client generated from the OpenAPI document
 * (client/), every answer checked against the document the app serves: its status is
 * documented for the operation and its body matches the documented schema. A field the
 * schemas forgot is caught twice: the serializer drops it (the asserts below miss it) and a
 * `required` one fails the schema check.
 */
const ADMIN = 'oas-admin-0123456789ab';
const LOOKUP = 'oas-lookup-0123456789a';

interface Ctx { stack: Stack; doc: OpenAPI3; admin: Client; lookup: Client; anonymous: Client; mismatches: string[][] }
const test = suite<Ctx>('openapi client');

test.before(async (ctx) => {
  ctx.stack = await startStack(undefined, {}, {
    TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S',
    TIERSTREAM_API_KEYS: `${ADMIN}:admin;${LOOKUP}:lookup`,
    TIERSTREAM_RATE_LIMIT: '1000000',
  });
  ctx.doc = (await ctx.stack.ts.app.inject({ method: 'GET', url: '/docs/json' })).json();
  const clients = [ADMIN, LOOKUP, undefined].map((key) => documentedClient(ctx.stack.ts.app, ctx.doc, key));
  [ctx.admin, ctx.lookup, ctx.anonymous] = clients.map((c) => c.api) as [Client, Client, Client];
  ctx.mismatches = clients.map((c) => c.mismatches);
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});
test.after.each((ctx) => {
  const found = ctx.mismatches.flat();
  for (const m of ctx.mismatches) m.length = 0;
  assert.equal(found, [], 'every answer as documented');
});

const id = (x: string) => ({ params: { path: { id: x } } });
const HOUR = 3_600_000;

test('sources: put, get, list; restore and demote answers', async ({ stack, admin, lookup }) => {
  const t0 = Date.now() - 10 * HOUR;
  await stack.publish(Array.from({ length: 12 }, (_, i) => ({ id: `oa-${i}`, type: i % 3 ? 'open' : 'send', userId: `u${i % 4}`, campaignId: 'oaA', variantId: 'B', time: t0 + i })));
  await stack.publish([{ id: 'oc-1', type: 'send', userId: 'u1', canvasId: 'oaC', stepId: 's3', time: t0 }]);
  const state = await eventually(async () => {
    const { data } = await lookup.GET('/v1/campaigns/{id}', id('oaA'));
    return data?.counts.history === 12 && data.counts.hot === 4 ? data : undefined;
  }, 'ingested');
  assert.is(state.kind, 'campaign');
  assert.is(state.tier, 'hot');
  assert.equal(state.pinnedBy, []);
  assert.is(state.restore, null);
  assert.ok(state.transitions.length >= 1 && typeof state.transitions[0]!.reason === 'string');

  const stopAt = Date.now();
  const put = await admin.PUT('/v1/campaigns/{id}', { ...id('oaA'), body: { status: 'stopped', stoppedAt: stopAt, name: 'Spring', tags: ['oas'] } });
  assert.is(put.response.status, 200);
  assert.is(put.data?.name, 'Spring');
  assert.equal(put.data?.tags, ['oas']);
  assert.is(put.data?.stoppedAt, new Date(stopAt).toISOString());
  assert.is(put.data?.expiresAt, new Date(stopAt + HOUR).toISOString());

  const list = await lookup.GET('/v1/campaigns', { params: { query: { tag: 'oas', limit: 1 } } });
  assert.equal(list.data?.items.map((s) => s.id), ['oaA']);
  assert.is(list.data?.cursor, null);

  const hot = await admin.POST('/v1/campaigns/{id}/restore', id('oaA'));
  assert.is(hot.response.status, 200);
  assert.equal(hot.data, { id: 'oaA', tier: 'hot' });

  const demoted = await admin.POST('/v1/canvases/{id}/demote', id('oaC'));
  assert.is(demoted.response.status, 202);
  assert.is(demoted.data?.tier, 'demoting');
  await eventually(async () => (await lookup.GET('/v1/canvases/{id}', id('oaC'))).data?.tier === 'expired', 'expired');
  const restoring = await admin.POST('/v1/canvases/{id}/restore', id('oaC'));
  assert.is(restoring.response.status, 202);
  const restored = await eventually(async () => {
    const { data } = await lookup.GET('/v1/canvases/{id}', id('oaC'));
    return data?.tier === 'hot' ? data : undefined;
  }, 'restored');
  assert.is(restored.restore?.progress, 1);
  assert.is(restored.restore?.etaSeconds, null);
  assert.ok(restored.restore?.finishedAt);
  assert.equal(restored.transitions.map((t) => t.tier).slice(-4), ['demoting', 'expired', 'restoring', 'hot']);

  const bulk = await admin.POST('/v1/restore', { body: { ids: ['campaign:oaA', 'campaign:oaNope'] } });
  assert.is(bulk.response.status, 202);
  assert.equal(bulk.data?.sources, [{ source: 'campaign:oaA', tier: 'hot' }, { source: 'campaign:oaNope', tier: null, error: 'source_not_found' }]);

  const missing = await lookup.GET('/v1/campaigns/{id}', id('oaNope'));
  assert.is(missing.response.status, 404);
  assert.is(missing.error?.error, 'source_not_found');
});

test('lookups, inline and registered, hot and history; user interactions', async ({ admin, lookup }) => {
  const filter: Schemas['CampaignLeaf'] = { campaign: 'oaA', event: 'open', variant: 'B' };
  const check = await lookup.POST('/v1/retargeting/check', { body: { filter, userIds: ['u1', 'u0', 'u9'] } });
  assert.equal(check.data, { matched: ['u1', 'u0'], servedFrom: 'hot' });
  const count = await lookup.POST('/v1/retargeting/count', { body: { filter, from: 'history' } });
  assert.equal(count.data, { count: 4, servedFrom: 'history' });
  const page = await lookup.POST('/v1/retargeting/audience', { body: { filter: { campaign: 'oaA', event: 'send' }, limit: 1 } });
  assert.is(page.data?.users.length, 1);
  assert.ok(page.data?.cursor);
  const rest = await lookup.POST('/v1/retargeting/audience', { body: { filter: { campaign: 'oaA', event: 'send' }, cursor: page.data!.cursor! } });
  assert.equal({ ...rest.data, users: [] }, { users: [], cursor: null, servedFrom: 'hot' });
  // Hot pages come in position order (a hash of the id); the two pages are the four users once.
  assert.equal([...page.data!.users, ...rest.data!.users].sort(), ['u0', 'u1', 'u2', 'u3']);

  const bad = await lookup.POST('/v1/retargeting/count', { body: { filter: { and: [] } } });
  assert.is(bad.response.status, 400);
  assert.is(bad.error?.error, 'invalid_filter');
  assert.is(bad.error?.path, 'filter.and');

  const reg = await admin.PUT('/v1/filters/{id}', { ...id('oaF'), body: { filter: { or: [filter, { tag: 'oas', event: 'send' }] } } });
  assert.equal(reg.data, { id: 'oaF', sources: ['campaign:oaA'], restoring: [] });
  const got = await lookup.GET('/v1/filters/{id}', id('oaF'));
  assert.equal(got.data?.filter, { or: [filter, { tag: 'oas', event: 'send' }] });
  assert.ok(got.data?.updatedAt);
  assert.equal((await lookup.GET('/v1/filters')).data?.items.map((f) => f.id), ['oaF']);
  assert.equal((await lookup.POST('/v1/filters/{id}/count', { ...id('oaF'), body: {} })).data, { count: 4, servedFrom: 'hot' });
  assert.equal((await lookup.POST('/v1/filters/{id}/check', { ...id('oaF'), body: { userIds: ['u2'], from: 'history' } })).data, { matched: ['u2'], servedFrom: 'history' });
  const two = (await lookup.POST('/v1/filters/{id}/audience', { ...id('oaF'), body: { limit: 2 } })).data?.users ?? [];
  assert.is(two.length, 2);
  assert.ok(two.every((u) => ['u0', 'u1', 'u2', 'u3'].includes(u)), two.join());
  const pinned = await lookup.GET('/v1/campaigns/{id}', id('oaA'));
  assert.equal(pinned.data?.pinnedBy, ['oaF']);
  assert.is(pinned.data?.expiresAt, null);
  const none = await lookup.POST('/v1/filters/{id}/count', { ...id('oaNone'), body: {} });
  assert.is(none.error?.error, 'filter_not_found');
  assert.is((await admin.DELETE('/v1/filters/{id}', id('oaF'))).response.status, 204);

  const user = await lookup.GET('/v1/users/{userId}/interactions', { params: { path: { userId: 'u1' }, query: { sources: 'campaign:oaA,canvas:oaC,campaign:oaNope' } } });
  const [a, c, nope] = user.data!.sources;
  assert.is(user.data?.userId, 'u1');
  assert.is(user.data?.servedFrom, undefined);
  assert.ok(a?.latest?.open && a.latest.send, JSON.stringify(a));
  assert.equal(Object.keys(a!.variants!), ['B']);
  assert.equal(c?.steps?.s3?.send !== undefined, true, JSON.stringify(c));
  assert.equal(nope, { source: 'campaign:oaNope', tier: null });
  const hist = await lookup.GET('/v1/users/{userId}/interactions', { params: { path: { userId: 'u1' }, query: { sources: 'campaign:oaA', from: 'history' } } });
  assert.is(hist.data?.servedFrom, 'history');
  assert.equal(hist.data?.sources[0]?.latest, a?.latest);
});

test('expired sources: 409 with the sources; expiring; erasure; auth errors', async ({ stack, admin, lookup, anonymous }) => {
  await admin.PUT('/v1/campaigns/{id}', { ...id('oaX'), body: { status: 'active' } });
  await admin.POST('/v1/campaigns/{id}/demote', id('oaX'));
  await eventually(async () => (await lookup.GET('/v1/campaigns/{id}', id('oaX'))).data?.tier === 'expired', 'expired');
  const refused = await lookup.POST('/v1/retargeting/check', { body: { filter: { campaign: 'oaX', event: 'send' }, userIds: ['u1'] } });
  assert.is(refused.response.status, 409);
  assert.equal(refused.error?.sources, ['campaign:oaX']);
  assert.is(refused.error?.error, 'source_expired');

  await admin.PUT('/v1/campaigns/{id}', { ...id('oaS'), body: { status: 'stopped', stoppedAt: Date.now() - HOUR + 60_000 } });
  const soon = await lookup.GET('/v1/expiring', { params: { query: { within: 'PT5M' } } });
  const item = soon.data?.items.find((i) => i.source === 'campaign:oaS');
  assert.ok(item, JSON.stringify(soon.data));
  assert.equal(item!.tags, []);
  assert.ok(item!.stoppedAt && item!.expiresAt);
  assert.is(soon.data?.cursor, null);

  const asked = await admin.DELETE('/v1/users/{userId}', { params: { path: { userId: 'u3' } } });
  assert.is(asked.response.status, 202);
  assert.is(asked.data?.userId, 'u3');
  const done = await eventually(async () => {
    const { data } = await admin.GET('/v1/erasures/{id}', id(asked.data!.id));
    return data?.status === 'done' ? data : undefined;
  }, 'erased');
  assert.ok(done.removed.history > 0 && done.removed.hot > 0, JSON.stringify(done.removed));
  assert.ok(done.finishedAt);
  assert.equal((await admin.GET('/v1/erasures')).data?.items.map((e) => e.id), [asked.data!.id]);
  assert.is((await admin.GET('/v1/erasures/{id}', id('nothing'))).error?.error, 'erasure_not_found');

  const noKey = await anonymous.GET('/v1/campaigns');
  assert.is(noKey.response.status, 401);
  assert.is(noKey.error?.error, 'unauthorized');
  const noScope = await lookup.DELETE('/v1/users/{userId}', { params: { path: { userId: 'u1' } } });
  assert.is(noScope.response.status, 403);
  assert.is(noScope.error?.error, 'forbidden');
  const invalid = await lookup.GET('/v1/campaigns', { params: { query: { limit: 0 } } });
  assert.is(invalid.error?.error, 'invalid_request');

  const health = await anonymous.GET('/healthz');
  assert.equal(health.data, { status: 'ok' });
  const ready = await anonymous.GET('/readyz');
  assert.is(ready.data?.status, 'ready');
  assert.is(ready.data?.checks.redis, 'ok');
  const metrics = await anonymous.GET('/metrics', { parseAs: 'text' });
  assert.match(String(metrics.data), /tierstream_/);
  void stack;
});

test.run();
