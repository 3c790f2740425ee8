import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  decodeEvent, DecodeError, MAX_MESSAGE_BYTES, MAX_PROPERTIES_DEPTH, validateEvent, type DecodeErrorCode,
} from '../../core/validate.js';
import { validateEventReference } from '../support/validate-reference.js';
import { CHANNELS, EVENT_TYPES, type InteractionEvent } from '../../core/types.js';
import { MAX_TIME_MS } from '../../core/time.js';

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
  for (const ok of ['...', '.a', 'a.', 'a..b']) assert.is(codeOf({ ...good, userId: ok }), 'ok', ok);
  for (const ok of ['a.b', 'a.b.c', 'a:b-c_d']) assert.is(codeOf({ ...good, campaignId: ok }), 'ok', ok);
});

test('ids with an empty dot-separated token (no NATS subject token) are refused in every id field but userId', () => {
  for (const bad of ['x..y', 'a.', '.a', '...', 'a...b']) {
    assert.is(codeOf({ ...good, id: bad }), 'invalid_field', bad);
    assert.is(codeOf({ ...good, campaignId: bad }), 'invalid_field', bad);
    assert.is(codeOf({ ...good, variantId: bad }), 'invalid_field', bad);
    assert.is(codeOf({ id: 'e', type: 'send', userId: 'u', canvasId: bad, time: 5 }), 'invalid_field', bad);
    assert.is(codeOf({ id: 'e', type: 'send', userId: 'u', canvasId: 'C', stepId: bad, time: 5 }), 'invalid_field', bad);
  }
});

test('a canvas event with a step, time in epoch ms', () => {
  const e = decodeEvent(enc({ id: 'e2', type: 'click', userId: 'u1', canvasId: 'C', stepId: 's3', time: 5 }));
  assert.equal(e.source, { kind: 'canvas', id: 'C' });
  assert.is(e.stepId, 's3');
  assert.is(e.time, 5);
});

test('every event type and channel of the contract is accepted', () => {
  for (const type of ['send', 'delivery', 'open', 'machine_open', 'click', 'conversion', 'bounce', 'unsubscribe', 'spam', 'control']) {
    assert.is(codeOf({ ...good, type }), 'ok', type);
  }
  for (const channel of ['email', 'push', 'sms', 'webhook', 'in_app', 'content_card', 'whatsapp']) {
    assert.is(codeOf({ ...good, channel }), 'ok', channel);
  }
});

test('machine_open is a type of its own; near spellings are not', () => {
  assert.is(decodeEvent(enc({ ...good, type: 'machine_open' })).type, 'machine_open');
  for (const type of ['machine', 'machine-open', 'MACHINE_OPEN', 'machineOpen', 'machine_open ', 'open_machine']) {
    assert.is(codeOf({ ...good, type }), 'invalid_field', type);
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

test('linkAlias only on clicks (invalid_field), canvasVariationId only on canvases (invalid_source); both ids', () => {
  const { campaignId: _, ...base } = good;
  assert.is(codeOf({ ...good, type: 'click', linkAlias: 'hero.cta_1' }), 'ok');
  assert.is(codeOf({ ...good, type: 'open', linkAlias: 'hero' }), 'invalid_field');
  assert.is(codeOf({ ...good, type: 'click', linkAlias: 'a b' }), 'invalid_field');
  assert.is(codeOf({ ...base, canvasId: 'K', canvasVariationId: 'cv' }), 'ok');
  assert.is(codeOf({ ...good, canvasVariationId: 'cv' }), 'invalid_source');
  assert.is(codeOf({ ...good, type: 'soft_bounce' }), 'ok');
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

test('properties are kept as sent, byte for byte: numbers that JSON.parse would change, white space, key order, escapes', () => {
  const props = '{ "big": 12345678901234567890123, "inf": 1e309, "x" : [1.0, 2E2, -0, 0.1000000000000000055511151231257827],\n "s": "\\u00e9\\"}" , "k": {}}';
  const text = `{"id":"e1","type":"send","userId":"u","campaignId":"A","time":5,"properties": ${props} }`;
  assert.is(decodeEvent(enc(text)).properties, props);
  // The member JSON.parse keeps (the last of the same name, escaped or not) is the one kept.
  const twice = `{"id":"e1","type":"send","properties":{"a":1},"userId":"u","campaignId":"A","time":5,"propert\\u0069es":{"b":[1e400]}}`;
  assert.is(decodeEvent(enc(twice)).properties, '{"b":[1e400]}');
  assert.is(decodeEvent(enc(`{"properties":{"a":"}"},"id":"e1","type":"send","userId":"u","campaignId":"A","time":5}`)).properties, '{"a":"}"}');
});

test('property: properties of any JSON text are kept as that text', () => {
  fc.assert(fc.property(fc.json(), fc.constantFrom('', ' ', '\n\t'), (value, ws) => {
    const props = `{${ws}"v"${ws}:${ws}${value}${ws}}`;
    const text = `{"id":"e","type":"send","userId":"u","campaignId":"A","time":5,${ws}"properties"${ws}:${ws}${props}${ws}}`;
    assert.is(decodeEvent(enc(text)).properties, props);
  }), { numRuns: 2_000 });
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
const PROPERTIES_DEPTH = 32; // the documented limit (docs/producing.md, "Event format")

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

// ---------------------------------------------------------------------------------------------
// The hand-written validateEvent against validateEventReference (ajv and the second pass it
// replaced): the same event (same keys in the same order) or the same code and message, for
// random events mutated every way the contract can be broken.

/** What a validator made of `raw`: the event and its key order, or its DecodeError's code and message. */
type Outcome = { event: InteractionEvent; keys: string } | { code: DecodeErrorCode; message: string };
function outcome(validate: (raw: unknown) => InteractionEvent, raw: unknown): Outcome {
  try {
    const event = validate(raw);
    return { event, keys: JSON.stringify([Object.keys(event), Object.keys(event.source)]) };
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err; // only ever a DecodeError
    return { code: err.code, message: err.message };
  }
}

const ID_CHARS = [...'ABCXYZabcxyz0189._:-'];
const USER_CHARS = [...ID_CHARS, '@', '+'];
/** Characters outside both id sets (or in the user set only, for plain ids). */
const FOREIGN = [' ', '/', '"', '\\', "'", '*', '{', '}', 'é', '\n', '\t', '😀', '\u0000', '\ud800', '@', '+', '%', '#', ',', 'ſ', 'K'];
const chars = (set: string[], min = 1, max = 12) =>
  fc.array(fc.constantFrom(...set), { minLength: min, maxLength: max }).map((a) => a.join(''));
/** Ids of the character set, of every length up to and past 128, dotted ones, and ones with one foreign character. */
const idOf = (set: string[]) => fc.oneof(
  { weight: 8, arbitrary: chars(set) },
  { weight: 2, arbitrary: fc.constantFrom('.', '..', '...', '.a', 'a.', 'a..b', '', '.\n', '..\n', ' .', '. ') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...set), fc.constantFrom(1, 2, 127, 128, 129, 200)).map(([c, n]) => c.repeat(n)) },
  { weight: 2, arbitrary: fc.tuple(chars(set, 0), fc.constantFrom(...FOREIGN), chars(set, 0)).map(([a, b, c]) => a + b + c) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
const ids = idOf(ID_CHARS);
const userIds = idOf(USER_CHARS);

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** ISO-8601-like strings: valid ones and near misses of every part (ranges, leap days, years 0-99, offsets, fractions, case, separators). */
const isoTimes = fc.record({
  y: fc.oneof(fc.integer({ min: 1968, max: 2101 }), fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 4, 69, 70, 99, 100, 1900, 2000)),
  mo: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, fc.integer({ min: 0, max: 99 })),
  d: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 31 }) }, fc.constantFrom(0, 28, 29, 30, 31, 32, 99)),
  h: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 23 }) }, fc.constantFrom(24, 99)),
  mi: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 59 }) }, fc.constantFrom(60, 99)),
  s: fc.option(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 59 }) }, fc.constantFrom(60, 99))),
  frac: fc.option(fc.tuple(fc.constantFrom('.', ','), fc.stringMatching(/^\d{0,11}$/))),
  t: fc.constantFrom('T', 'T', 't', ' ', 'X'),
  off: fc.oneof(
    fc.constantFrom('Z', 'Z', 'z', '', '+00:00', '-00:00', '+14:00', '-12:00', '+23:59', '+24:00', '+12:60', '+01', '+0100',
      '+01:0', '+1:00', '+01:', '+01:000', '+0130', '-01:30', 'UTC', 'ZZ', 'Z ', '+01:00 ', '\u2212' + '01:00'),
    fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 30 }), fc.constantFrom(':', ''), fc.option(fc.integer({ min: 0, max: 70 })))
      .map(([sign, h, colon, m]) => `${sign}${pad(h, 2)}${m === null ? '' : colon + pad(m, 2)}`),
  ),
  // One character replaced, to reach the corners of the grammar.
  edit: fc.option(fc.tuple(fc.nat(), fc.constantFrom(...'0123456789:-+.,TZtz x٣'))),
}).map(({ y, mo, d, h, mi, s, frac, t, off, edit }) => {
  let out = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}${t}${pad(h, 2)}:${pad(mi, 2)}`;
  if (s !== null) out += `:${pad(s, 2)}${frac ? frac[0] + frac[1] : ''}`;
  out += off;
  if (edit) {
    const i = edit[0] % out.length;
    out = out.slice(0, i) + edit[1] + out.slice(i + 1);
  }
  return out;
});
const epochs = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(MAX_TIME_MS - 1, MAX_TIME_MS, MAX_TIME_MS + 1, -0, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e21),
  fc.integer({ min: 0, max: MAX_TIME_MS + 10 }),
  fc.double(),
);
const times = fc.oneof({ weight: 3, arbitrary: isoTimes }, { weight: 2, arbitrary: epochs }, fc.string({ maxLength: 30 }));

/** properties nested exactly `depth` levels (objects or arrays, properties itself the first). */
const nestedProps = fc.tuple(fc.integer({ min: 1, max: MAX_PROPERTIES_DEPTH + 3 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = arrays ? [] : {};
  for (let i = 1; i < depth - 1; i++) v = arrays ? [v] : { a: v };
  return depth === 1 ? {} : { a: v };
});
const propertiesValues = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) },
  { weight: 2, arbitrary: nestedProps },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** A wrong (or sometimes right) value of any kind, for any field. */
const anyValue = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -0, 1.5, NaN, Infinity, -Infinity, 7, '', [], {}, ['u'], [1], { x: 1 }),
  fc.constantFrom(...EVENT_TYPES, ...CHANNELS, 'view', 'fax', 'SEND', 'Email', 'send ', 'toString', '__proto__',
    'machine', 'machine-open', 'MACHINE_OPEN', 'machineOpen', 'machine_open '),
  fc.integer(), fc.double(), fc.string({ maxLength: 10 }), fc.bigInt({ min: -5n, max: 5n }),
  ids, userIds, times, propertiesValues,
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.constant({ big: 1n }), // JSON.stringify throws: properties' serialisation error
);

const FIELDS = ['id', 'type', 'userId', 'campaignId', 'canvasId', 'stepId', 'variantId', 'channel', 'linkAlias', 'canvasVariationId', 'time', 'properties'] as const;
const extraKeys = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'ID', 'Id', 'id ', ' id',
    '', 'campaignid', 'user_id', '0', '1', '-1', 'source', 'tags'),
  fc.string({ maxLength: 8 }),
);

/** Valid ISO-8601 times in every accepted form: offsets with and without `:`, or `Z`; `t`/`z`; no seconds; 1-9 fraction digits, `.` or `,`. */
const goodIsoTimes = fc.record({
  ms: fc.integer({ min: 0, max: MAX_TIME_MS - 1 }),
  offsetMin: fc.oneof(fc.constant(0), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 })),
  zulu: fc.constantFrom('Z', 'z', '+00:00', '-00:00', ''),
  colon: fc.boolean(), lower: fc.boolean(),
  precision: fc.constantFrom('minutes', 'seconds', 'fraction'), digits: fc.stringMatching(/^\d{1,9}$/), comma: fc.boolean(),
}).map(({ ms, offsetMin, zulu, colon, lower, precision, digits, comma }) => {
  const local = new Date(ms + offsetMin * 60_000).toISOString(); // 2026-03-01T10:00:00.000Z
  let out = local.slice(0, 16);
  if (precision !== 'minutes') out += local.slice(16, 19);
  if (precision === 'fraction') out += (comma ? ',' : '.') + digits;
  const abs = Math.abs(offsetMin);
  const offset = offsetMin === 0 && zulu !== '' ? zulu
    : `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(abs / 60), 2)}${colon ? ':' : ''}${pad(abs % 60, 2)}`;
  out += offset;
  return lower ? out.replace('T', 't').replace('Z', 'z') : out;
});
const validIds = chars(ID_CHARS, 1, 20);
const validUserIds = chars(USER_CHARS, 1, 20);
/** Mostly right, sometimes any of the values above. */
const mostly = <T, U>(right: fc.Arbitrary<T>, any: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 15, arbitrary: right }, { weight: 1, arbitrary: any });

/** A (mostly) valid event's fields, then a few mutations: a field set to any value, deleted, or an extra key; in any key order. */
const entries = fc.record({
  id: mostly(validIds, ids), type: mostly(fc.constantFrom(...EVENT_TYPES), anyValue), userId: mostly(validUserIds, userIds),
  source: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('campaign', 'canvas', 'canvas+step') },
    fc.constantFrom('both', 'none', 'campaign+step')),
  campaignId: mostly(validIds, ids), canvasId: mostly(validIds, ids), stepId: mostly(validIds, ids),
  variantId: fc.option(mostly(validIds, ids)), channel: fc.option(mostly(fc.constantFrom(...CHANNELS), anyValue)),
  linkAlias: fc.option(mostly(validIds, ids)), canvasVariationId: fc.option(mostly(validIds, ids)),
  time: fc.oneof({ weight: 5, arbitrary: goodIsoTimes }, { weight: 3, arbitrary: fc.integer({ min: 0, max: MAX_TIME_MS - 1 }) },
    { weight: 1, arbitrary: times }),
  properties: fc.option(propertiesValues),
  mutations: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, fc.array(fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...FIELDS), value: anyValue }) },
    fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...FIELDS) }),
    fc.record({ op: fc.constant('extra' as const), key: extraKeys, value: anyValue }),
  ), { minLength: 1, maxLength: 3 })),
  order: fc.array(fc.double({ noNaN: true }), { minLength: 18, maxLength: 18 }),
}).map((g) => {
  const kv = new Map<string, unknown>([['id', g.id], ['type', g.type], ['userId', g.userId]]);
  if (g.source.startsWith('campaign') || g.source === 'both') kv.set('campaignId', g.campaignId);
  if (g.source.startsWith('canvas') || g.source === 'both') kv.set('canvasId', g.canvasId);
  if (g.source.endsWith('+step')) kv.set('stepId', g.stepId);
  if (g.variantId !== null) kv.set('variantId', g.variantId);
  if (g.channel !== null) kv.set('channel', g.channel);
  if (g.linkAlias !== null) kv.set('linkAlias', g.linkAlias);
  if (g.canvasVariationId !== null) kv.set('canvasVariationId', g.canvasVariationId);
  kv.set('time', g.time);
  if (g.properties !== null) kv.set('properties', g.properties);
  for (const m of g.mutations) {
    if (m.op === 'delete') kv.delete(m.key);
    else kv.set(m.key, m.value);
  }
  // Any key order: ajv reports the first unknown key in key order.
  return [...kv].map((e, i) => [e, g.order[i]! + i * 1e-9] as const).sort((a, b) => a[1] - b[1]).map(([e]) => e);
});

/** An object with exactly these own keys in this order (`__proto__` an own key, as JSON.parse makes it). */
function objectOf(list: (readonly [string, unknown])[], proto: object | null = Object.prototype): Record<string, unknown> {
  const o = Object.create(proto) as Record<string, unknown>;
  for (const [k, v] of list) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

test('property: validateEvent and the ajv reference agree on random objects (event, or code and message)', () => {
  fc.assert(fc.property(entries, fc.constantFrom('object', 'null', 'inherited'), (list, proto) => {
    // 'inherited': the last key comes from the prototype (for-in and ajv's reads both see it).
    const raw = proto === 'object' ? objectOf(list)
      : proto === 'null' ? objectOf(list, null)
      : objectOf(list.slice(0, -1), objectOf(list.slice(-1)));
    assert.equal(outcome(validateEvent, raw), outcome(validateEventReference, raw));
  }), { numRuns: 20_000 });
});

test('property: decodeEvent and the ajv reference agree on the same events as JSON text', () => {
  fc.assert(fc.property(entries, (list) => {
    // JSON has no undefined or BigInt: such members are left out, as JSON.stringify would.
    const members = list.flatMap(([k, v]) => {
      try {
        return v === undefined ? [] : [`${JSON.stringify(k)}:${JSON.stringify(v)}`];
      } catch {
        return [];
      }
    });
    const text = `{${members.join(',')}}`;
    assert.equal(outcome(() => decodeEvent(enc(text)), undefined), outcome(validateEventReference, JSON.parse(text)));
  }), { numRuns: 10_000 });
});

test('property: anything at all, top level included', () => {
  fc.assert(fc.property(fc.oneof(anyValue, fc.jsonValue({ maxDepth: 3 }), fc.object({ maxDepth: 2 })), (raw) => {
    assert.equal(outcome(validateEvent, raw), outcome(validateEventReference, raw));
  }), { numRuns: 5_000 });
});

test('property: times, ISO and epoch, are read exactly as parseTime reads them', () => {
  fc.assert(fc.property(fc.oneof(times, goodIsoTimes), fc.boolean(), (time, canvas) => {
    const raw = canvas ? { id: 'e', type: 'open', userId: 'u', canvasId: 'C', time } : { ...good, time };
    assert.equal(outcome(validateEvent, raw), outcome(validateEventReference, raw));
  }), { numRuns: 50_000 });
});

/** Every kind of wrong value (and some right ones), for the exhaustive one-field mutations below. */
const WRONG: unknown[] = [
  null, undefined, true, false, 0, -0, 7, 1.5, -5, NaN, Infinity, MAX_TIME_MS, 1n, '', ' ', '.', '..', '...', 'a'.repeat(128),
  'a'.repeat(129), 'a b', 'a/b', 'é', 'a@b', 'u+1', 'view', 'fax', 'send', 'email', 'SEND', '2026-03-01T00:00:00',
  '2026-03-01T00:00:00Z', '2026-02-29T00:00:00Z', '1969-12-31T23:59:59Z', '2100-01-01T00:00:00Z', [], ['u'], [1], {},
  { x: 1 }, { big: 1n }, { toJSON: () => undefined }, JSON.parse(nestedObjects(MAX_PROPERTIES_DEPTH + 1)), JSON.parse(nestedArrays(MAX_PROPERTIES_DEPTH)),
];
const BASES: Record<string, unknown>[] = [
  { id: 'e1', type: 'send', userId: 'u@x.com', campaignId: 'A', variantId: 'B', channel: 'email', time: '2026-03-01T00:00:00Z', properties: { a: 1 } },
  { id: 'e2', type: 'click', userId: 'u1', canvasId: 'C', stepId: 's3', time: 5 },
];

test('every field (and extra keys) set to every kind of wrong value, or deleted: same outcome as the reference', () => {
  let cases = 0;
  for (const base of BASES) {
    for (const key of [...FIELDS, '__proto__', 'constructor', 'toString', 'extra']) {
      const deleted = objectOf(Object.entries(base).filter(([k]) => k !== key));
      assert.equal(outcome(validateEvent, deleted), outcome(validateEventReference, deleted), `${key} deleted`);
      for (const value of WRONG) {
        for (const first of [false, true]) { // the key last, then first
          const rest = Object.entries(base).filter(([k]) => k !== key);
          const raw = objectOf(first ? [[key, value], ...rest] : [...rest, [key, value]]);
          assert.equal(outcome(validateEvent, raw), outcome(validateEventReference, raw), `${key} = ${String(value)}`);
          cases++;
        }
      }
    }
  }
  assert.ok(cases > 1000);
});

test('the generators reach every outcome', () => {
  const seen = new Set<string>();
  fc.assert(fc.property(entries, (list) => {
    const o = outcome(validateEvent, objectOf(list));
    seen.add('code' in o ? o.code : 'ok');
  }), { numRuns: 3_000, seed: 1 });
  assert.equal([...seen].sort(), ['invalid_field', 'invalid_source', 'invalid_time', 'missing_field', 'ok', 'unknown_field']);
});

test.run();
