import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { foldEvents, EVENT_TYPES, sourceName, type InteractionEvent, type SourceFold } from '../../core/index.js';

/** A fold as plain data, order-independent: "source|index|user" -> time. */
function flat(folds: SourceFold[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of folds) {
    for (const [name, users] of f.indexes) {
      for (const [user, t] of users) out.set(`${sourceName(f.source)}|${name}|${user}`, t);
    }
  }
  return out;
}

/** Merging two folds with max, as the hot index does (ZADD GT). */
function mergeMax(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map(a);
  for (const [k, t] of b) out.set(k, Math.max(out.get(k) ?? t, t));
  return out;
}

const eventArb: fc.Arbitrary<InteractionEvent> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 4 }),
  type: fc.constantFrom(...EVENT_TYPES),
  userId: fc.constantFrom('u1', 'u2', 'u3', 'u:4'),
  source: fc.constantFrom({ kind: 'campaign', id: 'A' } as const, { kind: 'campaign', id: 'B:1' } as const, { kind: 'canvas', id: 'C' } as const),
  variantId: fc.option(fc.constantFrom('v1', 'v:2'), { nil: undefined }),
  stepId: fc.option(fc.constantFrom('s1', 's2'), { nil: undefined }),
  time: fc.integer({ min: 0, max: 1_000 }),
}).map((e) => {
  const out: InteractionEvent = { id: e.id, type: e.type, userId: e.userId, source: e.source, time: e.time };
  if (e.variantId !== undefined) out.variantId = e.variantId;
  if (e.stepId !== undefined && e.source.kind === 'canvas') out.stepId = e.stepId;
  return out;
});

test('any permutation and duplication of the events gives the same hot state', () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 60 }), fc.array(fc.nat()), (events, picks) => {
      const dups = picks.filter(() => events.length > 0).map((p) => events[p % events.length]!);
      const shuffled = [...events, ...dups].sort(() => 0).reverse();
      assert.equal(flat(foldEvents(shuffled)), flat(foldEvents(events)));
    }),
  );
});

test('folding in batches and merging with max equals folding everything at once', () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 60 }), fc.nat(60), (events, cut) => {
      const merged = mergeMax(flat(foldEvents(events.slice(0, cut))), flat(foldEvents(events.slice(cut))));
      assert.equal(merged, flat(foldEvents(events)));
    }),
  );
});

test('each index keeps the latest time of each user', () => {
  const base = { userId: 'u1', source: { kind: 'canvas', id: 'C' } } as const;
  const folds = foldEvents([
    { ...base, id: '1', type: 'send', time: 10, stepId: 's1', variantId: 'v' },
    { ...base, id: '2', type: 'send', time: 30, stepId: 's2' },
    { ...base, id: '3', type: 'send', time: 20, stepId: 's1' },
    { ...base, id: '4', type: 'open', time: 5, channel: 'push' },
    { ...base, id: '5', type: 'click', time: 7, stepId: 's1', channel: 'email', linkAlias: 'hero' },
  ]);
  assert.equal(flat(folds), new Map([
    ['canvas:C|any|u1', 30],
    ['canvas:C|e:send|u1', 30],
    ['canvas:C|s:s1:send|u1', 20],
    ['canvas:C|s:s2:send|u1', 30],
    ['canvas:C|v:v:send|u1', 10],
    ['canvas:C|e:open|u1', 5],
    ['canvas:C|e:click|u1', 7],
    ['canvas:C|s:s1:click|u1', 7],
    ['canvas:C|a:hero|u1', 7],
    ['canvas:C|sa:s1|hero|u1', 7],
    // Every event also in the any-message pseudo-source: its channel's type (its type's when it
    // has no channel; e:<type> is read as the latest of both) and its alias.
    ['any:message|any|u1', 30],
    ['any:message|e:send|u1', 30],
    ['any:message|c:push:open|u1', 5],
    ['any:message|c:email:click|u1', 7],
    ['any:message|a:hero|u1', 7],
  ]));
});

test.run();
