import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { EVENT_JSON_SCHEMA } from '../../core/event-schema.js';
import { decodeEvent, DecodeError, type DecodeErrorCode } from '../../core/validate.js';
import { CHANNELS, EVENT_TYPES } from '../../core/types.js';
import { MAX_TIME_MS } from '../../core/time.js';

/**
 * The JSON Schema of the event (core/event-schema.ts) against the validator the engine runs
 * (decodeEvent): on random valid and invalid events, what one accepts the other accepts, but
 * for the four rules the schema's description names as beyond it.
 */
// strictRequired off: oneOf's branches require fields declared beside them, not in the branch.
const schemaAccepts = new Ajv2020({ strict: true, strictRequired: false }).compile(EVENT_JSON_SCHEMA);
const enc = new TextEncoder();

function validatorSays(raw: unknown): { code: DecodeErrorCode | 'ok'; message: string } {
  try {
    decodeEvent(enc.encode(JSON.stringify(raw)));
    return { code: 'ok', message: '' };
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return { code: err.code, message: err.message };
  }
}

const idChars = fc.constantFrom(...'abcXYZ019_:-.'.split(''), '@', '+', ' ', '/', 'é');
const anId = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_:-]{1,8}(\.[A-Za-z0-9_:-]{1,5}){0,2}$/) },
  { weight: 2, arbitrary: fc.string({ unit: idChars, minLength: 0, maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', 'a..b', '.a', 'a.', 'x'.repeat(128), 'x'.repeat(129)) },
);
const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** ISO times around the edges: years 1960-2110, days up to 32, hours to 24, offsets to ±24:60, odd separators. */
const isoTime = fc.record({
  y: fc.oneof(fc.integer({ min: 1968, max: 2101 }), fc.integer({ min: 0, max: 9999 })),
  mo: fc.integer({ min: 0, max: 13 }),
  d: fc.integer({ min: 0, max: 32 }),
  h: fc.integer({ min: 0, max: 24 }),
  mi: fc.integer({ min: 0, max: 60 }),
  s: fc.option(fc.integer({ min: 0, max: 60 })),
  frac: fc.option(fc.stringMatching(/^[.,][0-9]{0,10}$/)),
  t: fc.constantFrom('T', 't', ' '),
  off: fc.oneof(
    fc.constantFrom('Z', 'z', '', '+00:00', '-00:00', 'UTC'),
    fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.constantFrom(':', '', 'none'))
      .map(([sign, oh, om, sep]) => `${sign}${pad(oh)}${sep === 'none' ? '' : `${sep}${pad(om)}`}`),
  ),
}).map(({ y, mo, d, h, mi, s, frac, t, off }) =>
  `${pad(y, 4)}-${pad(mo)}-${pad(d)}${t}${pad(h)}:${pad(mi)}${s === null ? '' : `:${pad(s)}${frac ?? ''}`}${off}`);
const aTime = fc.oneof(
  { weight: 5, arbitrary: isoTime },
  { weight: 1, arbitrary: fc.date({ min: new Date(0), max: new Date(MAX_TIME_MS - 1), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 2, arbitrary: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer({ min: MAX_TIME_MS - 3, max: MAX_TIME_MS + 3 }), fc.nat({ max: MAX_TIME_MS })) },
  { weight: 1, arbitrary: fc.oneof(fc.double(), fc.constant(1.5), fc.string(), fc.constant(null), fc.boolean()) },
);
/** Nested properties around the 32-level limit, or a wrong type. */
const nested = (levels: number): unknown => (levels <= 1 ? {} : { a: [nested(levels - 2) ?? 1] });
const someProperties = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 35 }).map(nested) },
  { weight: 1, arbitrary: wrongType },
);

/** A field: absent (undefined), a valid value, or something else. */
const field = <T>(valid: fc.Arbitrary<T>, absent = 1) =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: wrongType });

const valid = fc.record({
  id: fc.stringMatching(/^[A-Za-z0-9_:-]{1,8}(\.[A-Za-z0-9_:-]{1,5}){0,2}$/),
  type: fc.constantFrom(...EVENT_TYPES),
  userId: fc.stringMatching(/^[A-Za-z0-9_:@+-]{1,12}$/),
  source: fc.oneof(
    fc.record({ campaignId: fc.constantFrom('A', 'c.1') }),
    fc.record({ canvasId: fc.constantFrom('C', 'cv:2'), stepId: fc.constantFrom('s1', 's.2') }, { requiredKeys: ['canvasId'] }),
  ),
  variantId: fc.option(fc.constantFrom('B', 'v-1'), { nil: undefined }),
  channel: fc.option(fc.constantFrom(...CHANNELS), { nil: undefined }),
  time: fc.oneof(fc.integer({ min: 0, max: MAX_TIME_MS - 1 }), fc.date({ min: new Date(0), max: new Date(MAX_TIME_MS - 1), noInvalidDate: true }).map((d) => d.toISOString())),
  properties: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 4 }), { nil: undefined }),
}).map(({ source, ...rest }) => JSON.parse(JSON.stringify({ ...rest, ...source })) as Record<string, unknown>);

/** A valid event with one or two fields set to something random, or removed. */
const mutated = fc.tuple(valid, fc.array(fc.tuple(
  fc.constantFrom('id', 'type', 'userId', 'campaignId', 'canvasId', 'stepId', 'variantId', 'channel', 'time', 'properties', 'other'),
  fc.oneof(fc.constant(undefined), anId, wrongType, aTime, someProperties),
), { minLength: 1, maxLength: 2 })).map(([event, changes]) => {
  const o: Record<string, unknown> = { ...event };
  for (const [k, v] of changes) if (v === undefined) delete o[k]; else o[k] = v;
  return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
});

const noisy = fc.record({
  id: field(anId, 1),
  type: field(fc.oneof(fc.constantFrom(...EVENT_TYPES), fc.constantFrom('Send', 'opened', '')), 1),
  userId: field(anId, 1),
  campaignId: field(anId, 3),
  canvasId: field(anId, 4),
  stepId: field(anId, 6),
  variantId: field(anId, 3),
  channel: field(fc.oneof(fc.constantFrom(...CHANNELS), fc.constantFrom('mail', 'inapp')), 3),
  time: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 12, arbitrary: aTime }),
  properties: field(someProperties, 3),
  extra: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
}, { requiredKeys: [] }).map((r) => {
  // JSON has no undefined: absent fields are left out, as JSON.stringify does.
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) o[k] = v;
  return o;
});
const anEvent = fc.oneof(valid, noisy, mutated, mutated);

/** The validator's refusals the schema cannot express (its description lists them). */
function beyondSchema(raw: Record<string, unknown>, said: { code: string; message: string }): boolean {
  if (said.code === 'invalid_time') return typeof raw.time === 'string'; // a calendar day or the instant after its offset
  if (said.code === 'invalid_field') return /nested more than/.test(said.message);
  return said.code === 'message_too_large';
}

test('the schema and the validator agree on random events (but for the rules beyond a schema)', () => {
  const seen = { ok: 0, refused: 0, beyond: 0 };
  fc.assert(fc.property(anEvent, (raw) => {
    const said = validatorSays(raw);
    const accepted = schemaAccepts(raw);
    if (said.code === 'ok') {
      seen.ok++;
      return accepted === true;
    }
    seen.refused++;
    if (!accepted) return true;
    seen.beyond++;
    return beyondSchema(raw, said);
  }), { numRuns: 20_000 });
  // Both kinds were tried, in numbers.
  assert.ok(seen.ok > 1_000, `valid events: ${seen.ok}`);
  assert.ok(seen.refused > 1_000, `invalid events: ${seen.refused}`);
});

test('valid events of every shape pass both', () => {
  fc.assert(fc.property(valid, (raw) => validatorSays(raw).code === 'ok' && schemaAccepts(raw) === true), { numRuns: 5_000 });
});

test('each rule a schema can say is said: a refusal per code', () => {
  const good = { id: 'e1', type: 'send', userId: 'u1', campaignId: 'A', time: '2026-03-01T00:00:00Z' };
  const cases: [Record<string, unknown>, DecodeErrorCode][] = [
    [{ ...good, id: undefined }, 'missing_field'],
    [{ ...good, nope: 1 }, 'unknown_field'],
    [{ ...good, channel: 'mail' }, 'invalid_field'],
    [{ ...good, campaignId: 'a..b' }, 'invalid_field'],
    [{ ...good, canvasId: 'C' }, 'invalid_source'],
    [{ ...good, stepId: 's' }, 'invalid_source'],
    [{ id: 'e1', type: 'send', userId: 'u1', time: 5 }, 'invalid_source'],
    [{ ...good, time: '2100-01-01T00:00:00Z' }, 'invalid_time'],
    [{ ...good, time: '2026-03-01T00:00:00' }, 'invalid_time'],
    [{ ...good, time: MAX_TIME_MS }, 'invalid_time'],
    [{ ...good, time: -1 }, 'invalid_time'],
  ];
  assert.ok(schemaAccepts(good));
  for (const [raw, code] of cases) {
    const clean = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
    assert.is(validatorSays(clean).code, code, JSON.stringify(clean));
    assert.is(schemaAccepts(clean), false, JSON.stringify(clean));
  }
});

test.run();
