import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createRedis, defineCommands } from '../../storage/redis/index.js';
import { eventually, startStack, type Stack } from './helpers.js';

/**
 * The API's edge as an attacker and a careless client meet it: authentication decided on the
 * matched route whatever the path's encoding, a scope on every route, ids as long as the
 * contract allows, bodies that keep their types, extreme durations, slow bodies, and Redis left
 * as it was found.
 */
const ADMIN = 'edge-admin-0123456789';
const LOOKUP = 'edge-lookup-012345678';
const RESTORE = 'edge-restore-01234567';
const WRONG = 'edge-wrong-0123456789';

type Scope = 'lookup' | 'restore' | 'admin' | 'ingest';
/** The route table of docs/api.md, "Routes": every /v1 route and the scope it needs. */
const ROUTES: [method: string, path: string, scope: Scope][] = [
  ...(['campaigns', 'canvases'] as const).flatMap((p): [string, string, Scope][] => [
    ['GET', `/v1/${p}`, 'lookup'],
    ['GET', `/v1/${p}/{id}`, 'lookup'],
    ['PUT', `/v1/${p}/{id}`, 'admin'],
    ['PATCH', `/v1/${p}/{id}`, 'admin'],
    ['DELETE', `/v1/${p}/{id}`, 'admin'],
    ['POST', `/v1/${p}/{id}/restore`, 'restore'],
    ['POST', `/v1/${p}/{id}/demote`, 'admin'],
  ]),
  ['POST', '/v1/restore', 'restore'],
  ['GET', '/v1/filters', 'lookup'],
  ['GET', '/v1/filters/{id}', 'lookup'],
  ['PUT', '/v1/filters/{id}', 'admin'],
  ['DELETE', '/v1/filters/{id}', 'admin'],
  ['POST', '/v1/retargeting/check', 'lookup'],
  ['POST', '/v1/retargeting/count', 'lookup'],
  ['POST', '/v1/retargeting/audience', 'lookup'],
  ['POST', '/v1/retargeting/explain', 'lookup'],
  ['POST', '/v1/filters/{id}/check', 'lookup'],
  ['POST', '/v1/filters/{id}/count', 'lookup'],
  ['POST', '/v1/filters/{id}/audience', 'lookup'],
  ['GET', '/v1/users/{userId}/interactions', 'lookup'],
  ['GET', '/v1/users/{userId}/filters', 'lookup'],
  ['GET', '/v1/expiring', 'lookup'],
  ['GET', '/v1/sources', 'lookup'],
  ['GET', '/v1/overview', 'lookup'],
  ['DELETE', '/v1/users/{userId}', 'admin'],
  ['GET', '/v1/erasures', 'admin'],
  ['GET', '/v1/erasures/{id}', 'admin'],
  ['POST', '/v1/events', 'ingest'],
  ['POST', '/v1/ingest/braze-currents', 'ingest'],
  ['POST', '/v1/ingest/segment', 'ingest'],
  ['GET', '/v1/dead-letters', 'admin'],
  ['GET', '/v1/dead-letters/counts', 'admin'],
  ['POST', '/v1/dead-letters/replay', 'admin'],
];

interface Ctx { stack: Stack; port: number }
const test = suite<Ctx>('api edge');

test.before(async (ctx) => {
  ctx.stack = await startStack(undefined, {}, {
    TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S',
    TIERSTREAM_API_KEYS: `${ADMIN}:admin;${LOOKUP}:lookup;${RESTORE}:restore`,
    TIERSTREAM_RATE_LIMIT: '1000000',
    TIERSTREAM_RECEIVE_TIMEOUT_MS: '1000',
  });
  await ctx.stack.ts.app.listen({ host: '127.0.0.1', port: 0 });
  ctx.port = (ctx.stack.ts.app.server.address() as AddressInfo).port;
});
test.after(async (ctx) => {
  await ctx.stack?.stop();
});

interface Answer { status: number; body: any }

/** One request over a real socket, the path sent exactly as given (no normalisation). */
function raw(port: number, method: string, path: string, opts: { key?: string; body?: unknown } = {}): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method, path,
      headers: {
        ...(opts.key && { authorization: `Bearer ${opts.key}` }),
        ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body: unknown = text;
        try { body = text ? JSON.parse(text) : undefined; } catch { /* not JSON: kept as text */ }
        resolve({ status: res.statusCode!, body });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const api = (ctx: Ctx, method: string, path: string, key: string | undefined, body?: unknown) =>
  raw(ctx.port, method, path, { ...(key && { key }), ...(body !== undefined && { body }) });

/** `%XX` for every character of the static segments (`/v1/filters` -> `/%76%31/%66...`). */
const encodeStatic = (template: string) =>
  template.split('/').map((seg) => (seg.startsWith('{') ? seg : [...seg].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''))).join('/');
const fill = (template: string) => template.replace(/\{[^}]+\}/g, 'x');

test('the route table is the one the app serves', async (ctx) => {
  const doc = (await api(ctx, 'GET', '/docs/json', undefined)).body;
  const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([p]) => p.startsWith('/v1'))
    .flatMap(([p, ops]) => Object.keys(ops).filter((m) => m !== 'head').map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  assert.equal(served, ROUTES.map(([m, p]) => `${m} ${p}`).sort());
});

test('every route, every path encoding: 401 without or with a wrong key, 403 without the scope', async (ctx) => {
  const keys: [string | undefined, (scope: Scope) => 'ok' | 401 | 403][] = [
    [undefined, () => 401],
    [WRONG, () => 401],
    [LOOKUP, (s) => (s === 'lookup' ? 'ok' : 403)],
    [RESTORE, (s) => (s === 'restore' ? 'ok' : 403)],
    [ADMIN, () => 'ok'],
  ];
  const failures: string[] = [];
  for (const [method, template, scope] of ROUTES) {
    const plain = fill(template);
    const paths = [
      plain,
      fill(encodeStatic(template)),
      plain.replace('/v1/', '/%761/'),
      plain.replace('/v1/', '/%76%31/'),
      `http://127.0.0.1:${ctx.port}${plain}`,
    ];
    for (const path of paths) {
      for (const [key, expect] of keys) {
        const body = method === 'GET' || method === 'DELETE' ? undefined : {};
        const res = await api(ctx, method, path, key, body);
        const want = expect(scope);
        const ok = want === 'ok'
          ? res.status !== 401 && res.status !== 403 && res.body?.error !== 'not_found'
          : res.status === want && res.body?.error === (want === 401 ? 'unauthorized' : 'forbidden');
        if (!ok) failures.push(`${method} ${path} key=${key ?? 'none'}: ${res.status} ${JSON.stringify(res.body)} (want ${want})`);
      }
    }
  }
  assert.equal(failures, []);
});

test('no route: 404 not_found, encoded or not; health, metrics and docs need no key', async (ctx) => {
  for (const path of ['/v1/nothing', '/%761/nothing', '/v2/filters', `http://127.0.0.1:${ctx.port}/v1/nothing`]) {
    const res = await api(ctx, 'GET', path, undefined);
    assert.is(res.status, 404, path);
    assert.is(res.body.error, 'not_found', path);
  }
  for (const path of ['/healthz', '/metrics', '/docs/json']) assert.is((await api(ctx, 'GET', path, undefined)).status, 200, path);
});

test('a route without a scope does not start', async () => {
  const { buildApp } = await import('../../api/index.js');
  const app = buildApp({} as never, { logger: false });
  try {
    app.get('/v1/forgotten', async () => 'open');
    await app.ready();
    assert.unreachable('the app started with an unscoped /v1 route');
  } catch (err) {
    assert.match(String(err), /GET \/v1\/forgotten declares no scope/);
  } finally {
    await app.close().catch(() => undefined);
  }
});

test('ids as long as the contract allows are reachable; longer ones are a 400 in the contract shape', async (ctx) => {
  const id = `c${'x'.repeat(127)}`;
  const user = `u${'y'.repeat(127)}`;
  assert.is((await api(ctx, 'PUT', `/v1/campaigns/${id}`, ADMIN, { status: 'active' })).status, 200);
  const got = await api(ctx, 'GET', `/v1/campaigns/${id}`, LOOKUP);
  assert.is(got.status, 200);
  assert.is(got.body.id, id);
  assert.is((await api(ctx, 'PUT', `/v1/filters/${'f'.repeat(128)}`, ADMIN, { filter: { campaign: id, event: 'send' } })).status, 200);
  assert.is((await api(ctx, 'GET', `/v1/filters/${'f'.repeat(128)}`, LOOKUP)).status, 200);
  assert.is((await api(ctx, 'DELETE', `/v1/filters/${'f'.repeat(128)}`, ADMIN)).status, 204);
  const inter = await api(ctx, 'GET', `/v1/users/${user}/interactions?sources=campaign:${id}`, LOOKUP);
  assert.is(inter.status, 200);
  assert.is(inter.body.userId, user);
  for (const long of [`c${'x'.repeat(128)}`, 'c'.repeat(1_000)]) {
    for (const path of [`/v1/campaigns/${long}`, `/v1/users/${long}/interactions?sources=campaign:a`, `/v1/filters/${long}`]) {
      const res = await api(ctx, 'GET', path, LOOKUP);
      assert.is(res.status, 400, path);
      assert.is(res.body.error, 'invalid_request', path);
      assert.type(res.body.message, 'string');
    }
  }
});

test('ids "." and ".." are refused at the edge, in paths, bodies and filters', async (ctx) => {
  for (const id of ['.', '..', '%2E', '%2e%2E']) {
    const res = await api(ctx, 'PUT', `/v1/campaigns/${id}`, ADMIN, { status: 'active' });
    assert.is(res.status, 400, id);
    assert.is(res.body.error, 'invalid_request', id);
    const user = await api(ctx, 'GET', `/v1/users/${id}/interactions?sources=campaign:a`, LOOKUP);
    assert.is(user.status, 400, `user ${id}`);
  }
  const leaf = await api(ctx, 'POST', '/v1/retargeting/count', LOOKUP, { filter: { campaign: '..', event: 'send' } });
  assert.is(leaf.status, 400);
  assert.is(leaf.body.error, 'invalid_filter');
  assert.is(leaf.body.path, 'filter.campaign');
  assert.is((await api(ctx, 'GET', '/v1/users/u1/interactions?sources=campaign:..', LOOKUP)).status, 400);
  assert.is((await api(ctx, 'POST', '/v1/retargeting/check', LOOKUP, { filter: { campaign: 'a', event: 'send' }, userIds: ['.'] })).status, 400);
  assert.is((await api(ctx, 'PUT', '/v1/campaigns/dots', ADMIN, { status: 'active', tags: ['..'] })).status, 400);
  // Ids with dots between tokens are ordinary ids; an empty token makes no NATS subject (issue 22, finding 3).
  assert.is((await api(ctx, 'PUT', '/v1/campaigns/a.b.c', ADMIN, { status: 'active' })).status, 200);
  for (const id of ['...', 'a..b', '.a', 'a.']) {
    const res = await api(ctx, 'PUT', `/v1/campaigns/${id}`, ADMIN, { status: 'active' });
    assert.is(res.status, 400, id);
    assert.is(res.body.error, 'invalid_request', id);
  }
  assert.is((await api(ctx, 'POST', '/v1/retargeting/count', LOOKUP, { filter: { campaign: 'x..y', event: 'send' } })).body.error, 'invalid_filter');
});

test('stoppedAt: in the future or outside 1970-2099 is a 400; a past one is kept', async (ctx) => {
  for (const stoppedAt of [Date.now() + 60_000, new Date(Date.now() + 60_000).toISOString(), '0070-01-01T00:00:00Z', '2150-01-01T00:00:00Z']) {
    const res = await api(ctx, 'PUT', '/v1/campaigns/stop-when', ADMIN, { status: 'stopped', stoppedAt });
    assert.is(res.status, 400, String(stoppedAt));
    assert.is(res.body.error, 'invalid_request', String(stoppedAt));
  }
  const past = await api(ctx, 'PUT', '/v1/campaigns/stop-when', ADMIN, { status: 'stopped', stoppedAt: '2026-01-01T00:00:00Z' });
  assert.is(past.status, 200);
  assert.is(past.body.stoppedAt, '2026-01-01T00:00:00.000Z');
});

test('/metrics is gathered at most about once a second: requests meanwhile get the same text', async (ctx) => {
  const get = async () => (await ctx.stack.ts.app.inject({ method: 'GET', url: '/metrics' })).body;
  const first = await get();
  const again = await Promise.all([get(), get(), get()]);
  for (const b of again) assert.is(b, first, 'the same text within the second');
  await new Promise((r) => setTimeout(r, 1_100));
  assert.is.not(await get(), first, 'gathered anew (it counts its own requests)');
});

test('a body that is not valid UTF-8 is 400 invalid_json, never read with U+FFFD in place', async (ctx) => {
  for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    const payload = Buffer.concat([Buffer.from('{"status":"active","name":"a'), Buffer.from(bytes), Buffer.from('"}')]);
    const res = await ctx.stack.ts.app.inject({ method: 'PUT', url: '/v1/campaigns/utf8', payload, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } });
    assert.is(res.statusCode, 400, String(bytes));
    assert.is(res.json().error, 'invalid_json', String(bytes));
  }
  const bad = await ctx.stack.ts.app.inject({ method: 'PUT', url: '/v1/campaigns/utf8', payload: '{"status":', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } });
  assert.is(bad.statusCode, 400);
  const ok = await ctx.stack.ts.app.inject({ method: 'PUT', url: '/v1/campaigns/utf8', payload: Buffer.from('{"status":"active","name":"é €"}'), headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json; charset=utf-8' } });
  assert.is(ok.statusCode, 200);
  assert.is(ok.json().name, 'é €');
});

test('wrong types in bodies are refused, never coerced; query strings still coerce', async (ctx) => {
  const filter = { campaign: 'types', event: 'send' };
  const cases: [string, string, unknown][] = [
    ['PUT', '/v1/campaigns/types', { status: 'stopped', stoppedAt: null }],
    ['PUT', '/v1/campaigns/types', { status: 'stopped', stoppedAt: true }],
    ['PUT', '/v1/campaigns/types', { status: 'active', name: null }],
    ['PUT', '/v1/campaigns/types', { status: 'active', name: 12345 }],
    ['PUT', '/v1/campaigns/types', { status: 'active', tags: 'solo' }],
    ['POST', '/v1/retargeting/check', { filter, userIds: 'u1' }],
    ['POST', '/v1/retargeting/check', { filter, userIds: [1] }],
    ['POST', '/v1/retargeting/audience', { filter, limit: true }],
    ['POST', '/v1/retargeting/audience', { filter, limit: '10' }],
    ['POST', '/v1/restore', { ids: 'campaign:types' }],
  ];
  for (const [method, path, body] of cases) {
    const res = await api(ctx, method, path, ADMIN, body);
    assert.is(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    assert.is(res.body.error, 'invalid_request', JSON.stringify(body));
  }
  // Nothing was stored by the refused PUTs.
  assert.is((await api(ctx, 'GET', '/v1/campaigns/types', LOOKUP)).status, 404);
  const listed = await api(ctx, 'GET', '/v1/campaigns?limit=1', LOOKUP);
  assert.is(listed.status, 200);
  assert.ok(listed.body.items.length <= 1);
  assert.is((await api(ctx, 'GET', '/v1/campaigns?limit=abc', LOOKUP)).status, 400);
});

/** Every key of the namespace, on every master. */
async function namespaceKeys(ns: string): Promise<string[]> {
  const redis = createRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', clusterNodes: (process.env.REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean) });
  try {
    const nodes = 'nodes' in redis && redis.isCluster ? (redis as import('ioredis').Cluster).nodes('master') : [redis as import('ioredis').Redis];
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, page] = await node.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1_000);
        cursor = next;
        keys.push(...page);
      } while (cursor !== '0');
    }
    return keys.sort();
  } finally {
    redis.disconnect();
  }
}

async function seed(ctx: Ctx, source: string, users: number) {
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  await ctx.stack.publish(Array.from({ length: users * 2 }, (_, i) => ({
    id: `${source}-e${i}`, type: i % 2 ? 'click' : 'send', userId: `u${i >> 1}`, campaignId: source, time: t0 + i * 60_000,
  })));
  await eventually(async () => (await api(ctx, 'GET', `/v1/campaigns/${source}`, LOOKUP)).body?.counts?.history === users * 2, `${source} ingested`);
  await eventually(async () => (await api(ctx, 'POST', '/v1/retargeting/count', LOOKUP, { filter: { campaign: source, event: 'send' } })).body?.count === users, `${source} hot`);
}

test('durations beyond any sensible range are 400 invalid_filter with the path, hot and history, and leave Redis as it was', async (ctx) => {
  await seed(ctx, 'dur', 20);
  const before = await namespaceKeys(ctx.stack.ns);
  const leaf = (within: string) => ({ campaign: 'dur', event: 'send', within });
  for (const within of ['P999999Y', 'P9999999999Y', 'PT99999999999999999999S', 'P201Y', 'P2413M']) {
    const filter = { and: [{ campaign: 'dur', event: 'send' }, { not: { campaign: 'dur', event: 'click' } }, leaf(within)] };
    for (const from of ['hot', 'history'] as const) {
      for (const [path, extra] of [['count', {}], ['audience', { limit: 5 }], ['check', { userIds: ['u1', 'u2'] }]] as const) {
        const res = await api(ctx, 'POST', `/v1/retargeting/${path}`, LOOKUP, { filter, from, ...extra });
        assert.is(res.status, 400, `${path} ${from} ${within}: ${JSON.stringify(res.body)}`);
        assert.is(res.body.error, 'invalid_filter');
        assert.is(res.body.path, 'filter.and[2].within');
      }
    }
  }
  // The longest accepted window answers like no window at all.
  const widest = await api(ctx, 'POST', '/v1/retargeting/count', LOOKUP, { filter: leaf('P200Y') });
  assert.equal([widest.status, widest.body.count], [200, 20]);
  assert.equal(await namespaceKeys(ctx.stack.ns), before);
});

test('filter bounds outside the years 1970-2099 are 400 invalid_filter with the path (0070-0099 are not read as 1970-1999), in every lookup and PUT /v1/filters', async (ctx) => {
  await seed(ctx, 'yrs', 4);
  const before = await namespaceKeys(ctx.stack.ns);
  const bad = ['0070-01-01T00:00:00Z', '0099-12-31T23:59:59Z', '0099-12-31T23:00:00-05:00', '2100-01-01T00:00:00Z', '2150-06-01T00:00:00Z', '2099-12-31T23:30:00-01:00', 4_102_444_800_000, -1];
  for (const at of bad) {
    for (const k of ['after', 'before'] as const) {
      const filter = { or: [{ campaign: 'yrs', event: 'click' }, { campaign: 'yrs', event: 'send', [k]: at }] };
      const what = `${k} ${String(at)}`;
      for (const from of ['hot', 'history'] as const) {
        for (const [path, extra] of [['count', {}], ['audience', { limit: 5 }], ['check', { userIds: ['u1', 'u2'] }]] as const) {
          const res = await api(ctx, 'POST', `/v1/retargeting/${path}`, LOOKUP, { filter, from, ...extra });
          assert.is(res.status, 400, `${path} ${from} ${what}: ${JSON.stringify(res.body)}`);
          assert.is(res.body.error, 'invalid_filter', what);
          assert.is(res.body.path, `filter.or[1].${k}`, what);
        }
      }
      const put = await api(ctx, 'PUT', '/v1/filters/yrs-bound', ADMIN, { filter });
      assert.is(put.status, 400, `PUT ${what}`);
      assert.is(put.body.error, 'invalid_filter', `PUT ${what}`);
    }
  }
  assert.is((await api(ctx, 'GET', '/v1/filters/yrs-bound', LOOKUP)).status, 404, 'no filter registered');
  // The edges of the range are bounds like any other: all 4 users sent before 2099 ends, none before 1970 ended.
  const edge = async (k: 'after' | 'before', at: string) =>
    (await api(ctx, 'POST', '/v1/retargeting/count', LOOKUP, { filter: { campaign: 'yrs', event: 'send', [k]: at } })).body.count;
  assert.is(await edge('before', '2099-12-31T23:59:59.999Z'), 4);
  assert.is(await edge('after', '1970-01-01T00:00:00Z'), 4);
  assert.is(await edge('before', '1970-01-01T00:00:00Z'), 0);
  assert.equal(await namespaceKeys(ctx.stack.ns), before);
});

test('property: random filters with extreme windows answer 200 or 400, never 500, and leave no key behind', async (ctx) => {
  await seed(ctx, 'prop', 30);
  const before = await namespaceKeys(ctx.stack.ns);
  const time = fc.oneof(
    fc.integer({ min: -1e15, max: 1e16 }),
    fc.constantFrom(0, 4_102_444_799_999, 4_102_444_800_000, -1, Number.MAX_SAFE_INTEGER),
    fc.constantFrom('1970-01-01T00:00:00Z', '2099-12-31T23:59:59.999Z', '2100-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-02-30T00:00:00Z', 'yesterday'),
  );
  const within = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 1e12 }), fc.constantFrom('Y', 'M', 'W', 'D')).map(([n, u]) => `P${n}${u}`),
    fc.tuple(fc.integer({ min: 0, max: 1e12 }), fc.constantFrom('H', 'M', 'S')).map(([n, u]) => `PT${n}${u}`),
    fc.constantFrom('P200Y', 'P2400M', 'PT99999999999999999999S', 'P', 'PT', 'P1.5D', '-P1D', 'P0D'),
  );
  const leaf = fc.record({
    campaign: fc.constant('prop'),
    event: fc.constantFrom('send', 'click', 'open'),
    after: fc.option(time, { nil: undefined }),
    before: fc.option(time, { nil: undefined }),
    within: fc.option(within, { nil: undefined }),
  }).map((l) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)));
  const filter = fc.letrec<{ f: unknown }>((tie) => ({
    f: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.record({ and: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ or: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }), fc.record({ not: tie('f') })),
  })).f;
  await fc.assert(
    fc.asyncProperty(filter, fc.constantFrom('hot', 'history'), fc.constantFrom('count', 'check', 'audience'), async (f, from, path) => {
      const extra = path === 'check' ? { userIds: ['u1', 'u7', 'nobody'] } : path === 'audience' ? { limit: 3 } : {};
      const res = await api(ctx, 'POST', `/v1/retargeting/${path}`, LOOKUP, { filter: f, from, ...extra });
      if (res.status !== 200 && !(res.status === 400 && res.body.error === 'invalid_filter')) {
        throw new Error(`${path} ${from}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
    { numRuns: 150 },
  );
  assert.equal(await namespaceKeys(ctx.stack.ns), before);
});

/** Sends headers and part of a body, then nothing; resolves with what the server answered and when it closed. */
function stall(port: number, head: string): Promise<{ answer: string; afterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = tcpConnect(port, '127.0.0.1', () => sock.write(head));
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (c) => (answer += c));
    sock.on('close', () => resolve({ answer, afterMs: Date.now() - started }));
    sock.on('error', reject);
    setTimeout(() => { sock.destroy(); reject(new Error('the server kept a stalled request open for 15 s')); }, 15_000);
  });
}

test('a request that never finishes arriving is closed (408) after the receive timeout, also on /healthz', async (ctx) => {
  const body = `POST /v1/retargeting/count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${LOOKUP}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"filter":`;
  const health = 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{';
  const headers = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
  for (const head of [body, health, headers]) {
    const { answer, afterMs } = await stall(ctx.port, head);
    // A GET may be answered before its body arrives; the socket is still closed with a 408.
    assert.match(answer, /HTTP\/1\.1 408 [^]*\{"error":"request_timeout","message":"[^"]+"\}$/, `${JSON.stringify(head)} -> ${JSON.stringify(answer)} after ${afterMs} ms`);
    assert.ok(afterMs >= 900, `closed after ${afterMs} ms, before the timeout`);
  }
  // The server still answers others.
  assert.is((await api(ctx, 'GET', '/healthz', undefined)).status, 200);
});

test.run();
