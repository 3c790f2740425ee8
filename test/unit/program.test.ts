import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { compile, evaluate, parseFilter, type Filter } from '../../core/index.js';

const NOW = Date.UTC(2026, 10, 1);
const leaf = fc.record({
  campaign: fc.constantFrom('A', 'B'),
  event: fc.constantFrom('send', 'click'),
  after: fc.option(fc.constantFrom(NOW - 10, NOW), { nil: undefined }),
}).map((l) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)));
const filter = fc.letrec<{ f: unknown }>((tie) => ({
  f: fc.oneof({ depthSize: 'small', maxDepth: 6 }, leaf, fc.record({ and: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ or: fc.array(tie('f'), { minLength: 1, maxLength: 3 }) }), fc.record({ not: tie('f') })),
})).f.filter((raw) => {
  // Only filters inside the grammar's limits (depth 8, 32 leaves).
  try {
    parseFilter(raw);
    return true;
  } catch {
    return false;
  }
});
/** A user: a latest time (or none) per leaf; known whenever any leaf has one, else either way. */
const user = (leaves: number) => fc.tuple(
  fc.array(fc.option(fc.constantFrom(NOW - 20, NOW - 5, NOW + 5), { nil: undefined }), { minLength: leaves, maxLength: leaves }),
  fc.boolean(),
).map(([latest, other]) => ({ latest, known: latest.some((t) => t !== undefined) || other }));

test('needsUniverse: when false, passing known = true for every user changes no answer', () => {
  fc.assert(fc.property(filter.chain((raw) => {
    const c = compile(parseFilter(raw), NOW);
    return fc.tuple(fc.constant(c), fc.array(user(c.leaves.length), { minLength: 1, maxLength: 20 }));
  }), ([c, users]) => {
    if (c.needsUniverse) return;
    for (const u of users) assert.is(evaluate(c, u.latest, true), evaluate(c, u.latest, u.known));
  }), { numRuns: 500 });
});

test('needsUniverse: a lone not, or an or with a not, needs it; an and with a positive leaf does not', () => {
  const c = (f: unknown) => compile(parseFilter(f as Filter), NOW).needsUniverse;
  const send = { campaign: 'A', event: 'send' };
  const notClick = { not: { campaign: 'A', event: 'click' } };
  assert.is(c(send), false);
  assert.is(c({ and: [send, notClick] }), false);
  assert.is(c(notClick), true);
  assert.is(c({ or: [send, notClick] }), true);
  assert.is(c({ not: { not: send } }), false);
  assert.is(c({ and: [notClick, { not: { campaign: 'B', event: 'send' } }] }), true);
});

test.run();
