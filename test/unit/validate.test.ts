import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEvent, DecodeError, MAX_MESSAGE_BYTES, type DecodeErrorCode } from '../../engine/validate.js';

const good = { id: 'e1', type: 'send', userId: 'u@x.com', campaignId: 'A', time: '2026-03-01T00:00:00Z' };
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function codeOf(payload: unknown): DecodeErrorCode | 'ok' {
  try {
    decodeEvent(enc(payload));
    return 'ok';
  } catch (err) {
    assert.instance(err, DecodeError);
    return (err as DecodeError).code;
  }
}

test('a campaign event is normalised', () => {
  const e = decodeEvent(enc({ ...good, variantId: 'B', channel: 'email', properties: { a: 1 } }));
  assert.equal(e, {
    id: 'e1', type: 'send', userId: 'u@x.com', source: { kind: 'campaign', id: 'A' }, variantId: 'B', channel: 'email',
    time: Date.UTC(2026, 2, 1), properties: '{"a":1}',
  });
});

test('a canvas event with a step, time in epoch ms', () => {
  const e = decodeEvent(enc({ id: 'e2', type: 'click', userId: 'u1', canvasId: 'C', stepId: 's3', time: 5 }));
  assert.equal(e.source, { kind: 'canvas', id: 'C' });
  assert.is(e.stepId, 's3');
  assert.is(e.time, 5);
});

test('every event type and channel of the contract is accepted', () => {
  for (const type of ['send', 'delivery', 'open', 'click', 'conversion', 'bounce', 'unsubscribe', 'spam', 'control']) {
    assert.is(codeOf({ ...good, type }), 'ok', type);
  }
  for (const channel of ['email', 'push', 'sms', 'webhook', 'in_app', 'content_card', 'whatsapp']) {
    assert.is(codeOf({ ...good, channel }), 'ok', channel);
  }
});

test('payload rules', () => {
  assert.is(codeOf('{not json'), 'invalid_json');
  assert.is(codeOf(''), 'invalid_json');
  assert.is(codeOf('[1,2]'), 'not_an_object');
  assert.is(codeOf('null'), 'not_an_object');
  assert.is(codeOf('"str"'), 'not_an_object');
  const big = { ...good, properties: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } };
  assert.is(codeOf(big), 'message_too_large');
  // Exactly at the limit is accepted.
  const base = JSON.stringify({ ...good, properties: { pad: '' } });
  const exact = { ...good, properties: { pad: 'x'.repeat(MAX_MESSAGE_BYTES - base.length) } };
  assert.is(enc(exact).byteLength, MAX_MESSAGE_BYTES);
  assert.is(codeOf(exact), 'ok');
});

test('required fields', () => {
  for (const f of ['id', 'type', 'userId', 'time']) {
    const e: Record<string, unknown> = { ...good };
    delete e[f];
    assert.is(codeOf(e), 'missing_field', f);
  }
});

test('unknown fields are rejected, including prototype keys', () => {
  assert.is(codeOf({ ...good, extra: 1 }), 'unknown_field');
  assert.is(codeOf(`{"id":"e1","type":"send","userId":"u","campaignId":"A","time":1,"__proto__":{"x":1}}`), 'unknown_field');
  assert.is(codeOf({ ...good, constructor: 'x' }), 'unknown_field');
});

test('field types and enums', () => {
  assert.is(codeOf({ ...good, type: 'view' }), 'invalid_field');
  assert.is(codeOf({ ...good, channel: 'fax' }), 'invalid_field');
  assert.is(codeOf({ ...good, id: 7 }), 'invalid_field');
  assert.is(codeOf({ ...good, userId: ['u'] }), 'invalid_field');
  assert.is(codeOf({ ...good, properties: 'str' }), 'invalid_field');
  assert.is(codeOf({ ...good, properties: [1] }), 'invalid_field');
  assert.is(codeOf({ ...good, time: true }), 'invalid_field');
});

test('id character sets and lengths', () => {
  assert.is(codeOf({ ...good, id: 'a'.repeat(128) }), 'ok');
  assert.is(codeOf({ ...good, id: 'a'.repeat(129) }), 'invalid_field');
  assert.is(codeOf({ ...good, id: '' }), 'invalid_field');
  for (const bad of ["a'b", 'a*', '{A}', 'a\nb', 'a b', 'a/b', 'a"b', 'a\\b', 'é', 'a@b']) {
    assert.is(codeOf({ ...good, campaignId: bad }), 'invalid_field', bad);
    assert.is(codeOf({ ...good, id: bad }), 'invalid_field', bad);
  }
  assert.is(codeOf({ ...good, userId: 'a@b+c.d:e_f-g' }), 'ok');
  for (const bad of ["u'", 'u*', '{u}', 'u\n', 'u'.repeat(129)]) assert.is(codeOf({ ...good, userId: bad }), 'invalid_field', bad);
  assert.is(codeOf({ ...good, variantId: 'v{1}' }), 'invalid_field');
});

test('exactly one of campaignId and canvasId; stepId only on canvases', () => {
  const { campaignId: _, ...none } = good;
  assert.is(codeOf(none), 'invalid_source');
  assert.is(codeOf({ ...good, canvasId: 'C' }), 'invalid_source');
  assert.is(codeOf({ ...good, stepId: 's1' }), 'invalid_source');
  assert.is(codeOf({ ...none, canvasId: 'C', stepId: 's1' }), 'ok');
});

test('time must be ISO-8601 with offset or integer epoch ms', () => {
  assert.is(codeOf({ ...good, time: '2026-03-01T00:00:00' }), 'invalid_time');
  assert.is(codeOf({ ...good, time: '1767225600000' }), 'invalid_time');
  assert.is(codeOf({ ...good, time: 1.5 }), 'invalid_field'); // not an integer: a type error
  assert.is(codeOf({ ...good, time: -5 }), 'invalid_time');
});

test.run();
