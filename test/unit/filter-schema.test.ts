import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { COMBINATORS, FILTER_SCHEMA, filterSchemas, LEAF_KINDS, LEAF_WINDOW } from '../../core/filter/schema.js';
import { FilterError, parseFilter } from '../../core/filter/grammar.js';
import { EVENT_TYPES } from '../../core/types.js';
import { MAX_TIME_MS } from '../../core/time.js';

/**
 * The filter's JSON Schema (core/filter/schema.ts: what the OpenAPI document and the typed
 * client show) against the parser the API runs (parseFilter): on random valid and invalid
 * filters, one accepts what the other accepts. The filters stay within what the schema's
 * description leaves to the parser (at most 32 leaves, depth 8, real dates in range, `within`
 * up to P200Y, a count leaf's window within 730 days), so any disagreement is a leaf, key or
 * value one side forgot.
 *
 * The pools include leaves and keys other work adds to the grammar (`any` leaves, `channel`,
 * `opens`, `alias`, `times`): today both sides refuse them; once the parser takes them, this
 * test fails until the schema's lists take them too.
 */
const ajv = new Ajv2020({ strict: false });
for (const s of filterSchemas()) ajv.addSchema(s);
const schemaAccepts = ajv.getSchema(FILTER_SCHEMA)!;

function parserAccepts(raw: unknown): boolean {
  try {
    parseFilter(raw);
    return true;
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    return false;
  }
}

const validId = fc.stringMatching(/^[A-Za-z0-9_:-]{1,8}(\.[A-Za-z0-9_:-]{1,4}){0,2}$/);
const badId = fc.constantFrom('', '.', '..', 'a..b', '.a', 'a.', 'a b', 'é', 'x'.repeat(129), 7, null, ['c1']);
const validTime = fc.oneof(
  fc.nat({ max: MAX_TIME_MS - 1 }),
  fc.constantFrom('2026-11-01T00:00:00Z', '2026-02-28T23:59:59.5+02:00', '1999-12-31t12:00z', '2050-06-15T08:30-0330'),
);
const badTime = fc.constantFrom(-1, 1.5, MAX_TIME_MS, '2026-11-01', '2026-11-01T00:00:00', 'yesterday', '1969-12-31T00:00:00Z', null, true);
const validWithin = fc.constantFrom('P30D', 'PT1H', 'P1Y2M', 'P2W', 'PT0.5S', 'P200Y', 'P1DT12H');
const badWithin = fc.constantFrom('30d', 'P', 'PT', 'P1.5D', 'p30d', 30, null);
const validEvent = fc.constantFrom(...EVENT_TYPES);
const badEvent = fc.constantFrom('evnt', 'Send', 'sent', 'engaged', '', 5);

/** Keys and values the grammar may take one day (other work in flight), refused by both today. */
const FUTURE = {
  any: fc.constant('message'),
  channel: fc.constantFrom('email', 'push'),
  opens: fc.constantFrom('machine', 'other', 'any'),
  alias: validId,
  times: fc.constantFrom({ min: 1 }, { max: 2 }, { min: 1, max: 3 }),
} as const;

/** Valid values of every key a leaf of the schema's lists may carry, and invalid ones. */
const VALID: Record<string, fc.Arbitrary<unknown>> = {
  campaign: validId, canvas: validId, tag: validId, variant: validId, step: validId,
  kind: fc.constantFrom('campaign', 'canvas'), event: validEvent, after: validTime, before: validTime, within: validWithin,
  ...FUTURE,
};
const INVALID: Record<string, fc.Arbitrary<unknown>> = {
  campaign: badId, canvas: badId, tag: badId, variant: badId, step: badId,
  kind: fc.constantFrom('user', 'Campaign', 1), event: badEvent, after: badTime, before: badTime, within: badWithin,
  any: fc.constantFrom('everything', 3), channel: fc.constantFrom('fax', 3), opens: fc.constantFrom('all', 3), alias: badId, times: fc.constantFrom({ min: -1 }, 'x'),
};
const ALL_KEYS = [...new Set([...Object.keys(VALID), 'evnt', 'campaignId', 'userId'])];

/**
 * A count leaf's window reaches at most 730 days back: the schema's description says so, the
 * parser checks it (a bound JSON Schema cannot state on a duration), so generated count leaves
 * keep their years-long `within` out.
 */
const withinHorizon = (node: unknown): unknown => {
  const n = node as Record<string, unknown>;
  return n.times !== undefined && typeof n.within === 'string' && /Y/.test(n.within) ? { ...n, within: 'P30D' } : node;
};

/** A leaf of one kind (those the schema lists, and `any`), valid keys only, then maybe one mutation. */
const leaf: fc.Arbitrary<unknown> = fc
  .record({
    key: fc.constantFrom(...LEAF_KINDS.map((k) => k.key as string), 'any'),
    optional: fc.subarray(['variant', 'step', 'kind', 'after', 'before', 'within', 'channel', 'opens', 'alias', 'times']),
    mutation: fc.option(fc.tuple(fc.constantFrom('add', 'invalid', 'drop'), fc.constantFrom(...ALL_KEYS)), { freq: 3 }),
    seed: fc.integer(),
  })
  .chain(({ key, optional, mutation }) => {
    // Optional keys a leaf of this kind takes in the schema, and any key of the future pool.
    const kind = LEAF_KINDS.find((k) => k.key === key);
    const takes = (k: string) => k in LEAF_WINDOW || (kind ? k in kind.properties : k in FUTURE);
    const keys = [key, 'event', ...optional.filter(takes)];
    return fc.record(Object.fromEntries(keys.map((k) => [k, VALID[k]!]))).chain((node: Record<string, unknown>) => {
      if (!mutation) return fc.constant(node);
      const [how, k] = mutation;
      if (how === 'drop') return fc.constant(Object.fromEntries(Object.entries(node).filter(([name]) => name !== k)));
      const pool = how === 'invalid' ? INVALID[k] ?? fc.constant(1) : VALID[k] ?? fc.constant('x');
      return pool.map((v) => ({ ...node, [k]: v }));
    }).map(withinHorizon);
  });

/** A filter of depth at most 4 (so at most 27 leaves): leaves, combinators, sometimes not an object at all. */
const filter = (depth: number): fc.Arbitrary<unknown> => {
  if (depth === 1) return fc.oneof({ weight: 12, arbitrary: leaf }, { weight: 1, arbitrary: fc.constantFrom(null, 'c1', [], 3) });
  const member = filter(depth - 1);
  const combinator = fc.oneof(
    ...COMBINATORS.map((c) =>
      c.many
        ? fc.oneof({ weight: 8, arbitrary: fc.array(member, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom([], {}, 'x') })
          .map((m) => ({ [c.key]: m }))
        : fc.oneof({ weight: 8, arbitrary: member }, { weight: 1, arbitrary: fc.array(member, { maxLength: 2 }) }).map((m) => ({ [c.key]: m }))),
  );
  const extra = fc.option(fc.tuple(fc.constantFrom(...ALL_KEYS, 'and', 'or', 'not'), fc.constant('c1')), { freq: 8 });
  return fc.oneof(
    { weight: 2, arbitrary: leaf },
    { weight: 3, arbitrary: fc.tuple(combinator, extra).map(([node, e]) => (e ? { ...node, [e[0]]: e[1] } : node)) },
  );
};

test('parseFilter and the schema agree on random valid and invalid filters', () => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(filter(4), (raw) => {
      const parser = parserAccepts(raw);
      const schema = schemaAccepts(raw) as boolean;
      if (parser !== schema) {
        throw new Error(`parseFilter ${parser ? 'accepts' : 'refuses'}, the schema ${schema ? 'accepts' : 'refuses'}: ${JSON.stringify(raw)}` +
          (schema ? '' : `\nschema: ${ajv.errorsText(schemaAccepts.errors)}`));
      }
      if (parser) accepted++;
      else refused++;
    }),
    { numRuns: 3_000 },
  );
  // Both outcomes are common enough for the agreement to mean something.
  // (About one in ten is valid since any-message, alias and count leaves joined the pools.)
  assert.ok(accepted > 200 && refused > 300, `${accepted} accepted, ${refused} refused`);
});

test('a misspelt key, an unknown event type, an empty "and": both refuse; the examples: both accept', () => {
  for (const raw of [{ campaign: 'c1', evnt: 'send' }, { campaign: 'c1', event: 'sent' }, { and: [] }, { not: [] }, { campaign: 'c1', canvas: 'v', event: 'send' }]) {
    assert.not.ok(parserAccepts(raw), JSON.stringify(raw));
    assert.not.ok(schemaAccepts(raw), JSON.stringify(raw));
  }
  const examples = filterSchemas().flatMap((s) => (s as { examples?: unknown[] }).examples ?? []);
  assert.ok(examples.length >= 4);
  for (const raw of examples) {
    assert.ok(parserAccepts(raw), JSON.stringify(raw));
    assert.ok(schemaAccepts(raw), JSON.stringify(raw));
  }
});

test.run();
