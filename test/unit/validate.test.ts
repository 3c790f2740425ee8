import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEvent, DecodeError, MAX_MESSAGE_BYTES, MAX_PROPERTIES_DEPTH, type DecodeErrorCode } from '../../core/validate.js';

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

test('ids "." and ".." are refused in every id field (URL dot segments); other dotted ids are fine', () => {
  for (const dots of ['.', '..']) {
    assert.is(codeOf({ ...good, id: dots }), 'invalid_field');
    assert.is(codeOf({ ...good, userId: dots }), 'invalid_field');
    assert.is(codeOf({ ...good, campaignId: dots }), 'invalid_field');
    assert.is(codeOf({ ...good, variantId: dots }), 'invalid_field');
    assert.is(codeOf({ id: 'e', type: 'send', userId: 'u', canvasId: 'C', stepId: dots, time: 5 }), 'invalid_field');
    assert.is(codeOf({ id: 'e', type: 'send', userId: 'u', canvasId: dots, time: 5 }), 'invalid_field');
  }
  for (const ok of ['...', '.a', 'a.', 'a..b']) assert.is(codeOf({ ...good, campaignId: ok, userId: ok }), 'ok', ok);
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

/** Decodes raw bytes; returns the DecodeError (failing on anything else), or 'ok'. */
function errOf(bytes: Uint8Array): DecodeError | 'ok' {
  try {
    decodeEvent(bytes);
    return 'ok';
  } catch (err) {
    assert.instance(err, DecodeError);
    return err as DecodeError;
  }
}
/** `prefix`, the raw bytes, then `suffix`, as one payload. */
const withBytes = (prefix: string, bytes: number[], suffix: string) =>
  new Uint8Array([...enc(prefix), ...bytes, ...enc(suffix)]);
const head = '{"id":"e1","type":"send","campaignId":"A","time":1,';

test('a payload that is not valid UTF-8 is invalid_json, wherever the bad bytes are', () => {
  const cases: [string, Uint8Array][] = [
    ['0xff inside userId', withBytes(`${head}"userId":"u`, [0xff], '"}')],
    ['0xff inside a top-level key', withBytes(`${head}"user`, [0xff], 'Id":"u"}')],
    ['0xff inside a key', withBytes(`${head}"userId":"u","properties":{"k`, [0xff], '":1}}')],
    ['0xff inside properties', withBytes(`${head}"userId":"u","properties":{"s":"a`, [0xff], 'b"}}')],
    ['overlong "/" (C0 AF)', withBytes(`${head}"userId":"u","properties":{"s":"`, [0xc0, 0xaf], '"}}')],
    ['overlong 3-byte "/" (E0 80 AF)', withBytes(`${head}"userId":"u","properties":{"s":"`, [0xe0, 0x80, 0xaf], '"}}')],
    ['truncated "€" (E2 82, no AC)', withBytes(`${head}"userId":"u","properties":{"s":"`, [0xe2, 0x82], '"}}')],
    ['truncated at the end of the payload', withBytes(`${head}"userId":"u"}`, [0xf0, 0x9f], '')],
    ['a UTF-16 surrogate encoded (ED A0 80)', withBytes(`${head}"userId":"u","properties":{"s":"`, [0xed, 0xa0, 0x80], '"}}')],
    ['a lone continuation byte (80)', withBytes(`${head}"userId":"u","properties":{"s":"`, [0x80], '"}}')],
  ];
  for (const [name, bytes] of cases) {
    const err = errOf(bytes);
    assert.ok(err !== 'ok', `${name}: accepted`);
    assert.is((err as DecodeError).code, 'invalid_json', name);
    assert.match((err as DecodeError).message, /UTF-8/, name);
  }
  // A byte-order mark is not JSON whitespace: still refused, as before strict decoding.
  assert.is(codeOf('\ufeff' + JSON.stringify(good)), 'invalid_json');
});

test('valid multi-byte UTF-8 in properties is kept exactly', () => {
  const e = decodeEvent(enc({ ...good, properties: { s: 'é € 😀 \u{10ffff}' } }));
  assert.equal(JSON.parse(e.properties!), { s: 'é € 😀 \u{10ffff}' });
  assert.not.match(e.properties!, /\uFFFD/);
});

/** `properties` nested `depth` levels deep (the properties object itself is level 1), by arrays or objects. */
const nestedArrays = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
const withProperties = (props: string) => enc(`${head}"userId":"u","properties":${props}}`);
const PROPERTIES_DEPTH = 32; // the README's documented limit

test('the depth limit is the documented one', () => {
  assert.is(MAX_PROPERTIES_DEPTH, PROPERTIES_DEPTH);
});

test('properties nested 7,000 levels deep is invalid_field naming the depth limit, not a stack overflow', () => {
  const bytes = withProperties(nestedArrays(7_000));
  assert.ok(bytes.byteLength <= MAX_MESSAGE_BYTES, 'fits in a message');
  const err = errOf(bytes);
  assert.ok(err !== 'ok', 'accepted');
  assert.is((err as DecodeError).code, 'invalid_field');
  assert.match((err as DecodeError).message, new RegExp(`properties.*${PROPERTIES_DEPTH}.*levels`));
  assert.not.match((err as DecodeError).message, /call stack/);
  assert.is((errOf(withProperties(nestedObjects(2_000))) as DecodeError).code, 'invalid_field');
});

test('properties nested exactly at the depth limit is accepted; one more level is not', () => {
  for (const nested of [nestedArrays, nestedObjects]) {
    const e = decodeEvent(withProperties(nested(PROPERTIES_DEPTH)));
    assert.is(e.properties, nested(PROPERTIES_DEPTH));
    const err = errOf(withProperties(nested(PROPERTIES_DEPTH + 1)));
    assert.ok(err !== 'ok', 'one level over the limit accepted');
    assert.is((err as DecodeError).code, 'invalid_field');
    assert.match((err as DecodeError).message, new RegExp(`${PROPERTIES_DEPTH}`));
  }
  // Width is not depth: many siblings at a shallow level are fine.
  assert.is(codeOf({ ...good, properties: { a: Array.from({ length: 500 }, (_, i) => ({ i, b: [i] })) } }), 'ok');
});

test('deep nesting outside properties gets the code of the rule it breaks, never a stack overflow', () => {
  const deep = '['.repeat(7_000) + ']'.repeat(7_000);
  assert.is(codeOf(`${head}"userId":"u","extra":${deep}}`), 'unknown_field');
  assert.is(codeOf(`${head}"userId":${deep}}`), 'invalid_field');
  assert.is(codeOf(deep), 'not_an_object');
  assert.is(codeOf('['.repeat(8_000)), 'invalid_json'); // unterminated
});

test.run();
