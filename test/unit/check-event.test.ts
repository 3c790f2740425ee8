import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { checkEvent } from '../../core/ingest.js';
import { decodeEvent, DecodeError } from '../../core/validate.js';
import { CHANNELS, EVENT_TYPES } from '../../core/types.js';

/**
 * checkEvent (producer library, HTTP ingestion) checks flat plain objects where they are
 * instead of decoding their JSON again: on random events, valid and not, it says exactly what
 * the engine says of the bytes it publishes (decodeEvent of JSON.stringify), code and message,
 * and the same event.
 */
const enc = new TextEncoder();
const NOW = Date.UTC(2026, 11, 6);

function engineSays(raw: unknown) {
  try {
    const data = enc.encode(JSON.stringify(raw) ?? 'null');
    return { ok: true, event: decodeEvent(data), data };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'invalid_field', message: `not serialisable as JSON: ${(err as Error).message}` };
  }
}

const odd = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.boolean(), fc.constant(NaN), fc.constant(Infinity), fc.constant(-0),
  fc.double(), fc.integer(), fc.string({ maxLength: 6 }), fc.constant([]), fc.constant({}), fc.constant(new Date(NOW)),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: a }, { weight: 1, arbitrary: odd });
const id = fc.oneof(fc.stringMatching(/^[a-z0-9]{1,6}$/), fc.constantFrom('', 'a b', 'x'.repeat(200), '\ud800'));
const event = fc.record({
  id: maybe(id),
  type: maybe(fc.constantFrom(...EVENT_TYPES, 'nope')),
  userId: maybe(id),
  campaignId: maybe(id),
  canvasId: maybe(id),
  stepId: maybe(id),
  variantId: maybe(id),
  channel: maybe(fc.constantFrom(...CHANNELS, 'fax')),
  time: maybe(fc.oneof(fc.integer({ min: 0, max: NOW + 3 * 86_400_000 }), fc.constant('2026-12-01T10:00:00Z'), fc.constant('2026-02-30T00:00:00Z'))),
  extra: odd,
  properties: fc.oneof(fc.constant(undefined), fc.constant({ a: 1, b: [true, null, 'x'] }), fc.constant('s')),
  big: fc.oneof(fc.constant(undefined), fc.constant('y'.repeat(17_000))),
}, { requiredKeys: [] });

test('checkEvent says what the engine says of the published bytes, on random events', () => {
  fc.assert(fc.property(event, (raw) => {
    const got = checkEvent(raw, NOW, 86_400_000);
    const want = engineSays(raw);
    if (!want.ok) {
      assert.equal(got, { ok: false, code: want.code, message: want.message });
      return;
    }
    if (!got.ok) {
      assert.is(got.code, 'time_in_future'); // judged after the validator, against now
      return;
    }
    assert.equal(got.event, want.event);
    assert.equal(got.data, want.data);
  }), { numRuns: 3_000 });
});

test('a class instance or an object with toJSON is checked as its JSON', () => {
  const e = { id: 'e1', type: 'send', userId: 'u1', campaignId: 'A', time: 1_700_000_000_000 };
  const withToJson = { ...e, toJSON: () => ({ ...e, id: 'other' }) };
  const c = checkEvent(withToJson, NOW, 86_400_000);
  assert.ok(c.ok && c.event.id === 'other');
  class Ev { id = 'e2'; type = 'send'; userId = 'u1'; campaignId = 'A'; time = 1_700_000_000_000; }
  const d = checkEvent(new Ev(), NOW, 86_400_000);
  assert.ok(d.ok && d.event.id === 'e2');
});

test.run();
