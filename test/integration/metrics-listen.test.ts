import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { createTierstream } from '../../runtime.js';
import { cleanup, startStack, testConfig, testNamespace, TEST_ENGINE } from './helpers.js';

/** TIERSTREAM_METRICS_LISTEN: /metrics on a listen address of its own, and no longer on the API's. */
const test = suite('metrics-listen');
const LISTEN = { TIERSTREAM_METRICS_LISTEN: '127.0.0.1:0', TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S' };

test('with TIERSTREAM_METRICS_LISTEN, /metrics is served there (GET and HEAD, cached a second) and the API answers 404 for it', async () => {
  const stack = await startStack(testNamespace('ml'), {}, LISTEN);
  let stopped = false;
  try {
    const at = await stack.ts.listenMetrics();
    assert.ok(at && at.port > 0, 'listening');
    const url = `http://127.0.0.1:${at!.port}`;
    const res = await fetch(`${url}/metrics`);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^tierstream_events_ingested_total \d+/m);
    assert.is(await (await fetch(`${url}/metrics?x=1`)).text(), text, 'the same gathering within the second');
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    assert.is(head.status, 200);
    assert.is(await head.text(), '');
    assert.is((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
    for (const path of ['/', '/healthz', '/v1/campaigns', '/metricsx']) assert.is((await fetch(`${url}${path}`)).status, 404, path);
    // The API port no longer serves it (no key, about 30 ms of CPU a gathering).
    assert.is((await stack.ts.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
    assert.is((await stack.ts.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const doc = JSON.parse((await stack.ts.app.inject({ method: 'GET', url: '/docs/json' })).body) as { paths: Record<string, unknown> };
    assert.not.ok('/metrics' in doc.paths, 'not in the API\'s OpenAPI document either');
    await stack.stop();
    stopped = true;
    await fetch(`${url}/metrics`).then(
      () => assert.unreachable('closed with the process'),
      (err: unknown) => assert.ok(err instanceof Error),
    );
  } finally {
    if (!stopped) await stack.stop();
  }
});

test('without it, the API serves /metrics and nothing else listens', async () => {
  const stack = await startStack(testNamespace('ml'), {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S' });
  try {
    assert.is(await stack.ts.listenMetrics(), undefined);
    assert.is((await stack.ts.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
  } finally {
    await stack.stop();
  }
});

test('an engine run alone (no HTTP API) serves its metrics on the address', async () => {
  const ns = testNamespace('ml');
  const ts = await createTierstream(testConfig(ns, { ...LISTEN, TIERSTREAM_ROLE: 'engine' }), { engine: TEST_ENGINE, log: pino({ level: 'silent' }) });
  try {
    assert.throws(() => ts.app, /serves no API/);
    const at = await ts.listenMetrics();
    const res = await fetch(`http://127.0.0.1:${at!.port}/metrics`);
    assert.is(res.status, 200);
    assert.match(await res.text(), /^tierstream_events_ingested_total \d+/m);
  } finally {
    await cleanup(ts, ns);
  }
});

test.run();
