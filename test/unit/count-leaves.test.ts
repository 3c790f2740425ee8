import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkCountHorizon, compile, evaluate, FilterError, parseFilter } from '../../core/index.js';

const NOW = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;

const refused = (raw: unknown, path: string) => {
  try {
    parseFilter(raw);
  } catch (err) {
    assert.instance(err, FilterError);
    assert.is((err as FilterError).path, path);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(raw)}`);
};

test('times: bounds and a window within the horizon are required', () => {
  refused({ campaign: 'A', event: 'open', times: {}, within: 'P30D' }, 'filter.times');
  refused({ campaign: 'A', event: 'open', times: { min: 3 } }, 'filter.times');
  refused({ campaign: 'A', event: 'open', times: { min: 3 }, before: NOW }, 'filter.times');
  refused({ campaign: 'A', event: 'open', times: { min: 1.5 }, within: 'P30D' }, 'filter.times.min');
  refused({ campaign: 'A', event: 'open', times: { max: -1 }, within: 'P30D' }, 'filter.times.max');
  refused({ campaign: 'A', event: 'open', times: { min: 3, max: 2 }, within: 'P30D' }, 'filter.times');
  refused({ campaign: 'A', event: 'open', times: { min: 3, most: 2 }, within: 'P30D' }, 'filter.times.most');
  refused({ campaign: 'A', event: 'open', times: { min: 3 }, within: 'P731D' }, 'filter.within');
  refused({ campaign: 'A', event: 'open', times: { min: 3 }, within: 'P24M' }, 'filter.within');
  refused({ campaign: 'A', event: 'open', times: { min: 3 }, within: 'P2Y' }, 'filter.within');
  for (const within of ['P730D', 'P23M', 'P1Y11M', 'P104W']) parseFilter({ campaign: 'A', event: 'open', times: { min: 3 }, within });
  const f = parseFilter({ and: [{ canvas: 'C', event: 'send' }, { tag: 't', event: 'open', times: { max: 2 }, after: NOW - 10 * DAY }] });
  assert.equal('and' in f && 'leaf' in f.and[1]! && f.and[1].leaf.times, { min: 0, max: 2 });
});

test('horizon: an after further back than 730 days is refused at the lookup, with its path', () => {
  const f = parseFilter({ or: [{ campaign: 'A', event: 'send' }, { campaign: 'A', event: 'open', times: { min: 1 }, after: NOW - 731 * DAY }] });
  assert.throws(() => checkCountHorizon(f, NOW), (e: FilterError) => e.path === 'filter.or[1].after');
  checkCountHorizon(f, NOW - 2 * DAY);
});

test('a count leaf matches its count in [min, max]; none counts 0, within the universe only', () => {
  const c = compile(parseFilter({ campaign: 'A', event: 'open', times: { max: 2 }, within: 'P30D' }), NOW, () => []);
  assert.equal(c.leaves[0]!.count, { min: 0, max: 2, sources: ['campaign:A'] });
  assert.is(c.needsUniverse, true);
  assert.is(evaluate(c, [NaN], true), true);
  assert.is(evaluate(c, [NaN], false), false);
  assert.is(evaluate(c, [2], true), true);
  assert.is(evaluate(c, [3], true), false);
  const min = compile(parseFilter({ campaign: 'A', event: 'open', times: { min: 2 }, within: 'P30D' }), NOW, () => []);
  assert.is(min.needsUniverse, false);
  assert.is(evaluate(min, [1], true), false);
  assert.is(evaluate(min, [5], true), true);
  // A tag's sources are counted together, in one leaf.
  const tag = compile(parseFilter({ tag: 't', event: 'open', times: { min: 2 }, within: 'P30D' }), NOW, () => [{ kind: 'canvas', id: 'C' }, { kind: 'campaign', id: 'A' }]);
  assert.is(tag.leaves.length, 1);
  assert.equal(tag.leaves[0]!.count!.sources, ['campaign:A', 'canvas:C']);
  assert.is(tag.leafPrograms.length, 1);
});

test.run();
