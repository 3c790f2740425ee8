import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, hotState, startStack, type Stack } from './helpers.js';
import { foldEvents, type InteractionEvent, type SourceRef } from '../../core/index.js';

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'fixtures');
const fixture = (dir: string, name: string) => JSON.parse(readFileSync(join(FIXTURES, dir, `${name}.json`), 'utf8')) as Record<string, unknown>;

let stack: Stack;
test.before(async () => {
  stack = await startStack(undefined, {}, { TIER_EXPIRE_AFTER: 'PT1H', TIER_SCAN_INTERVAL: 'PT1S', TIERSTREAM_INGEST_RATE: '3000' });
});
test.after(async () => {
  await stack.stop();
});

const post = async (url: string, payload: unknown) => {
  const res = await stack.ts.app.inject({ method: 'POST', url, payload: payload as object });
  return { status: res.statusCode, body: res.json() };
};

/** History's rows of a source as events (properties left out), sorted by id. */
async function historyOf(source: SourceRef) {
  const rows = await stack.ts.history.select<{ id: string; type: string; user_id: string; variant_id: string; step_id: string; channel: string; time: string; link_alias: string; canvas_variation_id: string }>(
    `SELECT id, type, user_id, variant_id, step_id, channel, time, link_alias, canvas_variation_id FROM ${stack.ts.history.db}.events FINAL
     WHERE source_kind = '${source.kind}' AND source_id = '${source.id}' ORDER BY id`,
  );
  return rows.map((r) => ({
    id: r.id, type: r.type, userId: r.user_id, variantId: r.variant_id, stepId: r.step_id, channel: r.channel, time: Number(r.time),
    linkAlias: r.link_alias, canvasVariationId: r.canvas_variation_id,
  }));
}

const asRows = (events: InteractionEvent[]) =>
  events.map((e) => ({
    id: e.id, type: e.type, userId: e.userId, variantId: e.variantId ?? '', stepId: e.stepId ?? '', channel: e.channel ?? '', time: e.time,
    linkAlias: e.linkAlias ?? '', canvasVariationId: e.canvasVariationId ?? '',
  }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));

/** The hot index the fold of `events` makes, in hotState's shape. */
function foldOf(source: SourceRef, events: InteractionEvent[]) {
  const fold = foldEvents(events.filter((e) => e.source.kind === source.kind && e.source.id === source.id))[0]!;
  return Object.fromEntries([...fold.indexes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, users]) => [k, Object.fromEntries([...users].sort(([a], [b]) => (a < b ? -1 : 1)))]));
}

/** History and the hot index of each source hold exactly `expected`. */
async function expectStored(expected: InteractionEvent[]) {
  const sources = new Map(expected.map((e) => [`${e.source.kind}:${e.source.id}`, e.source]));
  for (const source of sources.values()) {
    const mine = expected.filter((e) => e.source.kind === source.kind && e.source.id === source.id);
    await eventually(async () => (await historyOf(source)).length === mine.length, `history of ${source.kind}:${source.id}`);
    assert.equal(await historyOf(source), asRows(mine), `history of ${source.kind}:${source.id}`);
    const want = foldOf(source, mine);
    await eventually(async () => JSON.stringify(await hotState(stack.ts, source)) === JSON.stringify(want), `hot index of ${source.kind}:${source.id}`);
  }
}

// The Braze Currents samples (test/fixtures/braze-currents, README there), in this order.
const BRAZE = [
  'email-Send-campaign', 'email-Delivery-campaign', 'email-Open-machine-campaign', 'email-Open-human-campaign',
  'email-Click-canvas', 'email-Bounce-canvas', 'email-SoftBounce-canvas', 'pushnotification-Send-campaign',
  'inappmessage-Impression-campaign', 'contentcard-Impression-canvas', 'campaigns-EnrollInControl', 'canvas-Entry-control',
  'campaigns-Conversion', 'behaviors-CustomEvent',
];

test('Braze Currents samples: stored as the mapping table says, skipped ones counted, a second delivery stores nothing twice', async () => {
  assert.equal(readdirSync(join(FIXTURES, 'braze-currents')).filter((f) => f.endsWith('.json')).sort(), BRAZE.map((n) => `${n}.json`).sort());
  const events = BRAZE.map((n) => fixture('braze-currents', n));
  const res = await post('/v1/ingest/braze-currents', { events });
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.is(res.body.stored, 13);
  assert.is(res.body.skipped, 1);
  assert.is(res.body.rejected, 0);
  assert.equal(res.body.skippedByName, { 'users.behaviors.CustomEvent': 1 });
  assert.equal(res.body.results.map((r: { status: string }) => r.status), BRAZE.map((n) => (/CustomEvent/.test(n) ? 'skipped' : 'stored')));

  const T0 = Date.UTC(2026, 11, 1);
  const U = 'f47ac10b-58cc-4372-a567-0e02b2c3d479'; // every id of the samples
  const cmp: SourceRef = { kind: 'campaign', id: U };
  const cnv: SourceRef = { kind: 'canvas', id: U };
  const id = (n: number) => `braze:f47ac10b-58cc-4372-a567-${String(n).padStart(12, '0')}`;
  const e = (n: number, type: InteractionEvent['type'], userId: string, source: SourceRef, channel: InteractionEvent['channel'], s: number): InteractionEvent => ({
    id: id(n), type, userId, source, time: T0 + s * 1000, variantId: U,
    ...(source.kind === 'canvas' && { stepId: U, canvasVariationId: U }),
    ...(channel && { channel }),
  });
  const expected: InteractionEvent[] = [
    e(1, 'send', 'external_user_id', cmp, 'email', 0),
    e(2, 'delivery', 'external_user_id', cmp, 'email', 60),
    e(3, 'machine_open', 'external_user_id', cmp, 'email', 120),
    e(4, 'open', 'ext-2', cmp, 'email', 180),
    { ...e(5, 'click', 'external_user_id', cnv, 'email', 240), linkAlias: 'link_alias' },
    e(6, 'bounce', 'ext-3', cnv, 'email', 300),
    e(7, 'soft_bounce', 'ext-3', cnv, 'email', 310),
    // No external_user_id: Braze's user_id.
    e(8, 'send', '639a35d192b0df004d06514c', cmp, 'push', 400),
    e(9, 'send', 'ext-4', cmp, 'in_app', 500),
    e(10, 'send', 'ext-4', cnv, 'content_card', 600),
    e(11, 'control', 'ext-5', cmp, undefined, 700),
    e(12, 'control', 'ext-6', cnv, undefined, 800),
    e(13, 'conversion', 'external_user_id', cmp, undefined, 900),
  ];
  await expectStored(expected);

  const again = await post('/v1/ingest/braze-currents', { events });
  assert.is(again.status, 200);
  assert.is(again.body.duplicates, 13);
  assert.is(again.body.stored, 0);
  await new Promise((r) => setTimeout(r, 500));
  await expectStored(expected);
});

test('Braze Currents: an event that cannot be mapped is named, the rest stored', async () => {
  const good = { ...fixture('braze-currents', 'email-Send-campaign'), id: 'b-good', properties: { campaign_id: 'BZ1' } };
  const res = await post('/v1/ingest/braze-currents', {
    events: [
      { ...good, id: 'b-nosource', properties: {} },
      good,
      { ...good, id: 'b-fraction', time: 1796083200.5 },
      { ...good, id: 'b-user', user: { external_user_id: 'has space' } },
      { ...good, id: 'b-future', time: Math.floor(Date.now() / 1000) + 3 * 86_400 },
    ],
  });
  assert.is(res.status, 200);
  assert.equal(res.body.results.map((r: { id: string; status: string; error?: string }) => [r.id, r.status, r.error ?? null]), [
    ['b-nosource', 'rejected', 'invalid_source'],
    ['b-good', 'stored', null],
    ['b-fraction', 'rejected', 'invalid_time'],
    ['b-user', 'rejected', 'invalid_field'],
    ['b-future', 'rejected', 'time_in_future'],
  ]);
  await eventually(async () => (await historyOf({ kind: 'campaign', id: 'BZ1' })).length === 1, 'the good one stored');
});

test('Segment: the email spec examples stored as the table says; push examples without a campaign id named', async () => {
  const names = ['Email-Bounced', 'Email-Delivered', 'Email-Link-Clicked', 'Email-Marked-as-Spam', 'Email-Opened', 'Unsubscribed', 'Push-Notification-Received', 'Push-Notification-Tapped'];
  const calls = names.map((n) => fixture('segment', n));
  // As Braze's Segment export sends them (names of "Segment for Currents"): written here, not samples.
  const braze = (event: string, messageId: string, properties: object) =>
    ({ type: 'track', userId: 'seg-braze-1', event, messageId, timestamp: '2026-12-01T02:00:00.000Z', properties });
  calls.push(
    braze('Email Sent', 'bz-1', { campaign_id: 'SC1', message_variation_id: 'v1' }),
    braze('Campaign Control Group Entered', 'bz-2', { campaign_id: 'SC1', message_variation_id: 'v0' }),
    braze('Canvas Entered', 'bz-3', { canvas_id: 'SV1', canvas_step_id: 's1', canvas_variation_id: 'cv', in_control_group: 'true' }),
    braze('Canvas Entered', 'bz-4', { canvas_id: 'SV1', in_control_group: 'false' }),
    { type: 'identify', userId: 'x', messageId: 'id-1', traits: {} },
    braze('Email Soft Bounced', 'bz-5', { campaign_id: 'SC1' }),
    braze('Email Link Clicked', 'bz-6', { campaign_id: 'SC1', link_alias: 'hero' }),
    braze('Email Link Clicked', 'bz-7', { campaign_id: 'SC1', link_alias: 'not an id' }),
  );
  const single = await post('/v1/ingest/segment', calls[0]);
  assert.is(single.status, 200, JSON.stringify(single.body));
  assert.is(single.body.stored, 1);
  const res = await post('/v1/ingest/segment', { batch: calls });
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.results.map((r: { id: string; status: string; error?: string }) => [r.id, r.status, r.error ?? null]), [
    ['spec-01', 'duplicate', null],
    ['spec-02', 'stored', null], ['spec-03', 'stored', null], ['spec-04', 'stored', null], ['spec-05', 'stored', null], ['spec-06', 'stored', null],
    ['spec-07', 'rejected', 'invalid_source'], ['spec-08', 'rejected', 'invalid_source'],
    ['bz-1', 'stored', null], ['bz-2', 'stored', null], ['bz-3', 'stored', null], ['bz-4', 'skipped', null], ['id-1', 'skipped', null],
    ['bz-5', 'stored', null], ['bz-6', 'stored', null], ['bz-7', 'stored', null],
  ]);
  assert.equal(res.body.skippedByName, { 'Canvas Entered (in_control_group false)': 1, 'identify call': 1 });
  const c123: SourceRef = { kind: 'campaign', id: '123' };
  const t = (i: number) => Date.UTC(2026, 11, 1, 1, i);
  const spec = (i: number, type: InteractionEvent['type']): InteractionEvent =>
    ({ id: `segment:spec-0${i + 1}`, type, userId: '019mr8mf4r', source: c123, channel: 'email', time: t(i) });
  const T2 = Date.UTC(2026, 11, 1, 2);
  await expectStored([
    spec(0, 'bounce'), spec(1, 'delivery'), spec(2, 'click'), spec(3, 'spam'), spec(4, 'open'), spec(5, 'unsubscribe'),
    { id: 'segment:bz-1', type: 'send', userId: 'seg-braze-1', source: { kind: 'campaign', id: 'SC1' }, variantId: 'v1', channel: 'email', time: T2 },
    { id: 'segment:bz-2', type: 'control', userId: 'seg-braze-1', source: { kind: 'campaign', id: 'SC1' }, variantId: 'v0', time: T2 },
    { id: 'segment:bz-3', type: 'control', userId: 'seg-braze-1', source: { kind: 'canvas', id: 'SV1' }, variantId: 'cv', stepId: 's1', canvasVariationId: 'cv', time: T2 },
    { id: 'segment:bz-5', type: 'soft_bounce', userId: 'seg-braze-1', source: { kind: 'campaign', id: 'SC1' }, channel: 'email', time: T2 },
    // An alias that is not an id stays in properties only: the click is stored without it.
    { id: 'segment:bz-6', type: 'click', userId: 'seg-braze-1', source: { kind: 'campaign', id: 'SC1' }, channel: 'email', linkAlias: 'hero', time: T2 },
    { id: 'segment:bz-7', type: 'click', userId: 'seg-braze-1', source: { kind: 'campaign', id: 'SC1' }, channel: 'email', time: T2 },
  ]);
});

test('POST /v1/events: each event checked as on NATS; the good stored, the bad named by code; copies are duplicates', async () => {
  const ok = (i: number) => ({ id: `h${i}`, type: 'click', userId: `u${i}`, campaignId: 'HT', variantId: 'a', channel: 'email', time: Date.UTC(2026, 11, 1) + i });
  const events = [
    ok(1),
    { ...ok(2), userId: undefined },
    { ...ok(3), extra: 1 },
    { ...ok(4), time: '2026-12-01T00:00:00' },
    { ...ok(5), time: Date.now() + 3 * 86_400_000 },
    { ...ok(6), properties: { pad: 'x'.repeat(16 * 1024) } },
    { ...ok(7), canvasId: 'C' },
    'not an object',
    ok(9),
    { ...ok(11), type: 'open', linkAlias: 'hero' },
    { ...ok(12), canvasVariationId: 'cv1' },
  ];
  const res = await post('/v1/events', { events });
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.results.map((r: { status: string; error?: string }) => r.error ?? r.status), [
    'stored', 'missing_field', 'unknown_field', 'invalid_time', 'time_in_future', 'message_too_large', 'invalid_source', 'not_an_object', 'stored',
    'invalid_field', 'invalid_source',
  ]);
  assert.is(res.body.results[1].id, 'h2');
  assert.is(res.body.stored, 2);
  assert.is(res.body.rejected, 9);
  const again = await post('/v1/events', { events: [ok(1), ok(10)] });
  assert.equal(again.body.results.map((r: { status: string }) => r.status), ['duplicate', 'stored']);
  const toEvent = (i: number): InteractionEvent => ({ id: `h${i}`, type: 'click', userId: `u${i}`, source: { kind: 'campaign', id: 'HT' }, variantId: 'a', channel: 'email', time: Date.UTC(2026, 11, 1) + i });
  await expectStored([toEvent(1), toEvent(9), toEvent(10)]);
  // Nothing of the refused ones was published: no dead letters.
  assert.equal(await stack.dlq(), []);
});

test('limits: batch size (400), body size (413), events per second per key (429)', async () => {
  const many = Array.from({ length: 1_001 }, (_, i) => ({ id: `m${i}` }));
  assert.is((await post('/v1/events', { events: many })).body.error, 'invalid_request');
  const big = await stack.ts.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: `{"events":["${'x'.repeat(5 * 1_048_576)}"]}` });
  assert.is(big.statusCode, 413);
  assert.is(big.json().error, 'payload_too_large');
  // TIERSTREAM_INGEST_RATE=3000 here: three batches of 1,000 pass, the fourth within the second does not.
  const batch = { events: many.slice(0, 1_000) };
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await stack.ts.app.inject({ method: 'POST', url: '/v1/events', payload: batch }));
  assert.equal(answers.map((a) => a.statusCode), [200, 200, 200, 429]);
  assert.is(answers[3]!.json().error, 'rate_limited');
  assert.is(answers[3]!.headers['retry-after'], '1');
});

test.run();
