import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { AckPolicy, DeliverPolicy } from 'nats';
import { newSourceRecord, pendingNotices, webhookSignature } from '../../core/index.js';
import { noticeNames } from '../../storage/index.js';
import { eventually, getJson, send, startStack, testNamespace, type Stack } from './helpers.js';

/** Tier notifications (contract: "Tier notifications"): the stream, and the signed webhook. */
const test = suite('notifications');
const FAST_TIERS = { TIER_EXPIRE_AFTER: 'PT2S', TIER_SCAN_INTERVAL: 'PT0.2S' };
const evs = (campaignId: string) => Array.from({ length: 20 }, (_, i) => ({ id: `${campaignId}-${i}`, type: 'send', userId: `u${i}`, campaignId, time: 1_000 + i }));

/** Every notice in the namespace's stream for one source, in stream order. */
async function streamed(stack: Stack, kind: string, id: string): Promise<Record<string, unknown>[]> {
  const names = noticeNames(stack.ns);
  const jsm = await stack.ts.nc.jetstreamManager();
  const name = `check_${Math.random().toString(36).slice(2, 8)}`;
  await jsm.consumers.add(names.stream, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: names.subject(kind, id), inactive_threshold: 30e9 });
  const c = await stack.ts.nc.jetstream().consumers.get(names.stream, name);
  const info = await c.info();
  const out: Record<string, unknown>[] = [];
  if (info.num_pending === 0) return out;
  for await (const m of await c.fetch({ max_messages: info.num_pending, expires: 2_000 })) {
    out.push(m.json());
    if (out.length === info.num_pending) break;
  }
  return out;
}

/** The notices a state's transitions stand for. */
const expected = (source: string, state: { transitions: { tier: string; at: string; reason: string }[] }) =>
  state.transitions.map((t, i) => ({ source, tier: t.tier, previous: i ? state.transitions[i - 1]!.tier : null, at: t.at, reason: t.reason }));

async function cycle(stack: Stack, id: string): Promise<void> {
  await stack.publish(evs(id));
  await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.counts?.hot === 20, 'ingested');
  await send(stack.ts, 'PUT', `/v1/campaigns/${id}`, { status: 'stopped' });
  await eventually(async () => (await getJson(stack.ts, `/v1/campaigns/${id}`)).body.tier === 'expired', 'expired');
}

test('every transition is in the stream, in order, once, as the state records it', async () => {
  const stack = await startStack(undefined, {}, FAST_TIERS);
  try {
    await cycle(stack, 'n1');
    assert.is((await send(stack.ts, 'POST', '/v1/campaigns/n1/restore')).status, 202);
    const state = await eventually(async () => {
      const b = (await getJson(stack.ts, '/v1/campaigns/n1')).body;
      return b.tier === 'hot' && b.transitions.length === 5 ? b : undefined;
    }, 'restored');
    const want = expected('campaign:n1', state);
    assert.equal(want.map((n) => n.tier), ['hot', 'demoting', 'expired', 'restoring', 'hot']);
    const got = await eventually(async () => {
      const s = await streamed(stack, 'campaign', 'n1');
      return s.length >= want.length ? s : undefined;
    }, 'notices published');
    assert.equal(got, want);
  } finally {
    await stack.stop();
  }
});

test('the webhook gets every notice signed, after a receiver that fails at first, across a restart', async () => {
  const received: { body: string; signature: string | undefined }[] = [];
  let failing = true;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      if (failing) {
        refused++;
        res.writeHead(503).end();
        return;
      }
      received.push({ body, signature: req.headers['tierstream-signature'] as string | undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const secret = 'a-test-secret-of-some-length';
  const env = { ...FAST_TIERS, TIERSTREAM_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, TIERSTREAM_WEBHOOK_SECRET: secret };
  const ns = testNamespace('wh');
  const a = await startStack(ns, {}, env);
  let b: Stack | undefined;
  try {
    await cycle(a, 'w1');
    await eventually(async () => refused >= 2, 'the receiver refused deliveries');
    // The process stops with deliveries pending; its successor makes them.
    await a.ts.close();
    b = await startStack(ns, {}, env);
    failing = false;
    const state = (await getJson(b.ts, '/v1/campaigns/w1')).body;
    const want = expected('campaign:w1', state);
    await eventually(async () => received.length >= want.length, `${want.length} deliveries`, 30_000);
    for (const r of received) assert.is(r.signature, webhookSignature(r.body, secret), 'signed with the secret, over the exact body');
    assert.equal(received.map((r) => JSON.parse(r.body)), want, 'the same notices, in order, each once');
    assert.equal(received.map((r) => JSON.parse(r.body)), await streamed(b, 'campaign', 'w1'));
  } finally {
    await b?.stop();
    await new Promise((r) => server.close(r));
  }
});

test('a source whose id makes no subject (recorded before such ids were refused): its notices are given up, not retried for ever', async () => {
  const stack = await startStack(undefined, {}, FAST_TIERS);
  try {
    const bad = { kind: 'campaign' as const, id: 'x..y' };
    await stack.ts.registry.update(bad, (cur) => cur ?? newSourceRecord(bad, Date.now()));
    await stack.publish(evs('ok1'));
    const rec = await eventually(async () => {
      const r = await stack.ts.registry.get(bad);
      return r && pendingNotices(r).length === 0 ? r : undefined;
    }, 'the notice given up and marked', 5_000);
    assert.is(rec.notified?.tier, 'hot');
    await eventually(async () => (await streamed(stack, 'campaign', 'ok1')).length === 1, 'other sources notified');
  } finally {
    await stack.stop();
  }
});

test.run();
