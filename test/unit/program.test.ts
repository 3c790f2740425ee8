import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { compile, evaluate, evaluateRow, FilterError, parseFilter, type Filter } from '../../core/index.js';

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
    const c = compile(parseFilter(raw), NOW, () => []);
    return fc.tuple(fc.constant(c), fc.array(user(c.leaves.length), { minLength: 1, maxLength: 20 }));
  }), ([c, users]) => {
    if (c.needsUniverse) return;
    for (const u of users) assert.is(evaluate(c, u.latest, true), evaluate(c, u.latest, u.known));
  }), { numRuns: 500 });
});

test('evaluateRow over a flat table (NaN: no event) answers as evaluate does per user', () => {
  fc.assert(fc.property(filter.chain((raw) => {
    const c = compile(parseFilter(raw), NOW, () => []);
    return fc.tuple(fc.constant(c), fc.array(user(c.leaves.length), { minLength: 1, maxLength: 20 }));
  }), ([c, users]) => {
    const table = Float64Array.from(users.flatMap((u) => u.latest.map((t) => t ?? NaN)));
    users.forEach((u, i) => assert.is(evaluateRow(c, table, i, u.known), evaluate(c, u.latest, u.known)));
  }), { numRuns: 500 });
});


test('needsUniverse: a lone not, or an or with a not, needs it; an and with a positive leaf does not', () => {
  const c = (f: unknown) => compile(parseFilter(f as Filter), NOW, () => []).needsUniverse;
  const send = { campaign: 'A', event: 'send' };
  const notClick = { not: { campaign: 'A', event: 'click' } };
  assert.is(c(send), false);
  assert.is(c({ and: [send, notClick] }), false);
  assert.is(c(notClick), true);
  assert.is(c({ or: [send, notClick] }), true);
  assert.is(c({ not: { not: send } }), false);
  assert.is(c({ and: [notClick, { not: { campaign: 'B', event: 'send' } }] }), true);
});

test('a tag leaf over several sources matches on the latest of their times, not on any of them', () => {
  const over = [{ kind: 'campaign', id: 'A' }, { kind: 'campaign', id: 'B' }, { kind: 'canvas', id: 'C' }] as const;
  const bound = fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined });
  fc.assert(fc.property(bound, bound, fc.array(fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }), { minLength: 3, maxLength: 3 }), fc.boolean(),
    (after, before, times, negate) => {
      const leaf = { tag: 'spring', event: 'send', ...(after !== undefined && { after }), ...(before !== undefined && { before }) };
      const c = compile(parseFilter(negate ? { not: leaf } : leaf), NOW, () => over);
      assert.equal(c.sources, ['campaign:A', 'campaign:B', 'canvas:C']);
      // The user's latest send per source, placed where each compiled leaf reads it.
      const latest = c.leaves.map((l) => times[['campaign:A', 'campaign:B', 'canvas:C'].indexOf(l.source)]);
      const defined = times.filter((t): t is number => t !== undefined);
      const max = defined.length ? Math.max(...defined) : undefined;
      const inWindow = max !== undefined && max >= (after ?? -Infinity) && max < (before ?? Infinity);
      assert.is(evaluate(c, latest, true), negate ? !inWindow : inWindow, JSON.stringify({ after, before, times }));
    }), { numRuns: 2_000 });
});

test('a tag no source carries stands for no source: alone the filter names nothing; beside a source it matches nobody', () => {
  const none = { tag: 'nobody', event: 'send' };
  assert.equal(compile(parseFilter({ not: none }), NOW, () => []).sources, []);
  const c = compile(parseFilter({ or: [none, { campaign: 'A', event: 'click' }] }), NOW, () => []);
  assert.equal(c.sources, ['campaign:A']);
  assert.is(evaluate(c, c.leaves.map(() => NOW), true), true);
  const alone = compile(parseFilter({ and: [none, { campaign: 'A', event: 'click' }] }), NOW, () => []);
  assert.is(evaluate(alone, alone.leaves.map(() => 0), true), false);
  assert.is(evaluate(alone, alone.leaves.map(() => NOW), true), false);
});

test('tag leaves are resolved with their kind, once per distinct tag and kind', () => {
  const asked: string[] = [];
  const c = compile(parseFilter({ or: [{ tag: 't', event: 'send' }, { tag: 't', event: 'click' }, { tag: 't', kind: 'canvas', event: 'send' }] }), NOW, (t) => {
    asked.push(`${t.tag}/${t.kind ?? '*'}`);
    return t.kind === 'canvas' ? [{ kind: 'canvas', id: 'C' }] : [{ kind: 'campaign', id: 'A' }, { kind: 'canvas', id: 'C' }];
  });
  assert.equal(asked, ['t/*', 't/canvas']);
  assert.equal(c.sources, ['campaign:A', 'canvas:C']);
});

test('any-message leaves: engaged is the latest of click and the opens asked for, per channel; alias leaves read alias indexes', () => {
  const c = compile(parseFilter({ any: 'message', event: 'engaged', opens: 'machine', channel: 'email', before: NOW }), NOW, () => []);
  assert.equal(c.sources, ['any:message']);
  // Each index twice: [-inf, inf) and [NOW, inf).
  assert.equal([...new Set(c.leaves.map((l) => l.index))].sort(), ['c:email:click', 'c:email:machine_open']);
  // max(click, machine open) < NOW: some in [-inf, inf) and none in [NOW, inf).
  const at = (click: number | undefined, machine: number | undefined) => {
    const byIndex: Record<string, number | undefined> = { 'c:email:click': click, 'c:email:machine_open': machine };
    return evaluate(c, c.leaves.map((l) => byIndex[l.index]), true);
  };
  assert.is(at(NOW - 5, undefined), true);
  assert.is(at(NOW - 5, NOW + 5), false);
  assert.is(at(undefined, undefined), false);
  const any = compile(parseFilter({ any: 'message', event: 'engaged' }), NOW, () => []);
  assert.equal(any.leaves.map((l) => l.index).sort(), ['e:click', 'e:machine_open', 'e:open']);
  const alias = compile(parseFilter({ or: [{ canvas: 'C', step: 's:1', event: 'click', alias: 'a.b' }, { campaign: 'A', event: 'click', alias: 'x' }, { any: 'message', event: 'click', alias: 'x' }] }), NOW, () => []);
  assert.equal(alias.leaves.map((l) => `${l.source}|${l.index}`), ['canvas:C|sa:s:1|a.b', 'campaign:A|a:x', 'any:message|a:x']);
  assert.equal(alias.sources.sort(), ['any:message', 'campaign:A', 'canvas:C']);
});

test('parsing any-message and alias leaves: refusals name the path', () => {
  const path = (raw: unknown) => {
    try {
      parseFilter(raw);
      return 'parsed';
    } catch (e) {
      return e instanceof FilterError ? e.path : String(e);
    }
  };
  assert.is(path({ any: 'messages', event: 'send' }), 'filter.any');
  assert.is(path({ not: { any: 'message', event: 'engaged', opens: 'all' } }), 'filter.not.opens');
  assert.is(path({ any: 'message', event: 'click', opens: 'any' }), 'filter.opens');
  assert.is(path({ any: 'message', event: 'send', channel: 'fax' }), 'filter.channel');
  assert.is(path({ any: 'message', event: 'send', step: 's' }), 'filter.step');
  assert.is(path({ tag: 'T', event: 'send', opens: 'any' }), 'filter.opens');
  assert.is(path({ campaign: 'A', event: 'send', alias: 'x' }), 'filter.alias');
  assert.is(path({ campaign: 'A', variant: 'v', event: 'click', alias: 'x' }), 'filter.alias');
  assert.is(path({ campaign: 'A', event: 'click', alias: 'x y' }), 'filter.alias');
  assert.is(path({ canvas: 'C', event: 'engaged' }), 'filter.event');
  assert.is(path({ and: [{ any: 'message', campaign: 'A', event: 'send' }] }), 'filter.and[0]');
  // The grammar's limits hold: an any-message leaf is one leaf, whatever it compiles to.
  const many = (n: number) => ({ or: Array.from({ length: n }, () => ({ any: 'message', event: 'engaged', within: 'P1D' })) });
  assert.is(path(many(32)), 'parsed');
  assert.is(path(many(33)), 'filter.or[32]');
  let deep: unknown = { any: 'message', event: 'send' };
  for (let i = 0; i < 8; i++) deep = { not: deep };
  assert.match(path(deep), /^filter(\.not)+$/);
});

test.run();
