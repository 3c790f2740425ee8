import { CHANNELS, EVENT_TYPES } from '../types.js';
import { ID_PATTERN } from '../sources.js';
import { MAX_TIME_MS } from '../time.js';
import { DURATION_PATTERN } from '../duration.js';
import { ISO_TIME_PATTERN } from '../event-schema.js';
import { COUNT_HORIZON_DAYS, MAX_DEPTH, MAX_LEAVES, MAX_TIMES, MAX_WITHIN } from './grammar.js';

/*
 * The filter grammar (grammar.ts, parseFilter) as JSON Schemas, for the OpenAPI document and
 * the typed client generated from it. Built from the lists below so that a new leaf kind, a new
 * key on every leaf or a new combinator is one entry; test/unit/filter-schema.test.ts checks on
 * random filters that parseFilter and these schemas agree, so a leaf one side forgot fails it.
 *
 * What a JSON Schema cannot say, stated in the Filter schema's description and left to
 * parseFilter: at most MAX_LEAVES leaves and depth MAX_DEPTH, a day past its month's end or a
 * written time outside [1970, 2100) UTC once its offset is applied, `within` longer than
 * MAX_WITHIN.
 */

const id = (what: string, example: string) =>
  ({ type: 'string', pattern: ID_PATTERN, maxLength: 128, description: `${what}: 1-128 of [A-Za-z0-9._:-], dot-separated tokens with none empty`, examples: [example] }) as const;

const time = (what: string) => ({
  description: `${what}: ISO-8601 with an offset, or integer epoch milliseconds; in [1970, 2100) UTC`,
  anyOf: [
    { type: 'string', pattern: ISO_TIME_PATTERN, examples: ['2026-11-01T00:00:00Z'] },
    { type: 'integer', minimum: 0, maximum: MAX_TIME_MS - 1 },
  ],
}) as const;

/** What every leaf takes beside the key naming what it reads: the event type and the time window. */
export const LEAF_WINDOW = {
  event: { type: 'string', enum: [...EVENT_TYPES], description: 'the event type (an "open" leaf does not match machine opens)' },
  after: time('the latest event at or after this time'),
  before: time('the latest event before this time'),
  within: {
    type: 'string',
    pattern: DURATION_PATTERN,
    description: `ISO-8601 duration, at most ${MAX_WITHIN}: after = now - within (months by the UTC calendar); not with "after"`,
    examples: ['P30D'],
  },
  times: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: { min: { type: 'integer', minimum: 0, maximum: MAX_TIMES }, max: { type: 'integer', minimum: 0, maximum: MAX_TIMES } },
    description:
      `A count leaf: the distinct such events in the window number from min (default 0) to max (default no bound); needs "within" or ` +
      `"after", starting at most ${COUNT_HORIZON_DAYS} days back; served from history`,
    examples: [{ min: 3 }],
  },
} as const;

/** Keys a leaf may not carry together (the hot index keeps the latest time per variant and per step, not per both). */
export const LEAF_EXCLUSIVE: readonly (readonly [string, string])[] = [['within', 'after'], ['variant', 'step'], ['alias', 'variant'], ['alias', 'channel']];

/** Each kind of leaf: its schema name, the key that names what it reads, and the keys it takes beside LEAF_WINDOW's. */
export const LEAF_KINDS = [
  {
    name: 'CampaignLeaf',
    key: 'campaign',
    description: 'Users whose latest event of this type on the campaign (and variant) is in the window',
    properties: { campaign: id('a campaign id', 'spring-sale'), variant: id('a variant id', 'B'), alias: id('the link alias clicked (click leaves only)', 'hero') },
    example: { campaign: 'spring-sale', event: 'open', within: 'P30D' },
  },
  {
    name: 'CanvasLeaf',
    key: 'canvas',
    description: 'Users whose latest event of this type on the canvas (and variant or step) is in the window',
    properties: { canvas: id('a canvas id', 'onboarding'), variant: id('a variant id', 'B'), step: id('a canvas step id', 'welcome'), alias: id('the link alias clicked (click leaves only)', 'hero') },
    example: { canvas: 'onboarding', step: 'welcome', event: 'click' },
  },
  {
    name: 'TagLeaf',
    key: 'tag',
    description:
      'Stands for the sources of that kind (both when absent) carrying the tag when the lookup runs; matches on the latest such event ' +
      'over all of them. A tag no source carries stands for no source.',
    properties: { tag: id('a tag', 'spring'), kind: { type: 'string', enum: ['campaign', 'canvas'] }, alias: id('the link alias clicked (click leaves only)', 'hero') },
    example: { tag: 'spring', kind: 'campaign', event: 'send', within: 'P7D' },
  },
  {
    name: 'AnyMessageLeaf',
    key: 'any',
    description:
      'Users whose latest such event over every campaign and canvas, whatever their tiers, is in the window; a "not" over it ranges ' +
      'over every user the namespace knows. "engaged" is a click or an open ("opens": machine, other or any)',
    properties: {
      any: { type: 'string', enum: ['message'] },
      event: { type: 'string', enum: [...EVENT_TYPES, 'engaged'], description: 'the event type, or "engaged": a click or an open' },
      channel: { type: 'string', enum: [...CHANNELS] },
      opens: { type: 'string', enum: ['machine', 'other', 'any'], description: 'with "engaged": which opens count (default any)' },
      alias: id('the link alias clicked (click leaves only)', 'hero'),
    },
    example: { any: 'message', event: 'engaged', channel: 'email', within: 'P30D' },
  },
] as const;

/** The combinators: their schema name, key, and what the key holds (`$ref`s to Filter). */
export const COMBINATORS = [
  { name: 'FilterAnd', key: 'and', description: 'Users matching every member', many: true },
  { name: 'FilterOr', key: 'or', description: 'Users matching any member', many: true },
  { name: 'FilterNot', key: 'not', description: "Users of the filter's universe (users with any event of the sources it names) not matching the member", many: false },
] as const;

/** The name of the recursive root schema. */
export const FILTER_SCHEMA = 'Filter';

/**
 * The filter's JSON Schemas, each with its `$id` (its name) and referring to the others as
 * `ref(name)`: `Filter` (one of the leaves and combinators), one per leaf kind, one per combinator.
 */
export function filterSchemas(ref: (name: string) => string = (name) => `${name}#`): object[] {
  const filterRef = { $ref: ref(FILTER_SCHEMA) };
  const exclusive = { not: { anyOf: LEAF_EXCLUSIVE.map((pair) => ({ required: [...pair] })) } };
  const leaves = LEAF_KINDS.map((k) => ({
    $id: k.name,
    type: 'object',
    description: `${k.description}. Pairs that exclude each other: ${LEAF_EXCLUSIVE.map((p) => p.join(' and ')).join('; ')}.`,
    additionalProperties: false,
    required: [k.key, 'event'],
    properties: { ...LEAF_WINDOW, ...k.properties },
    ...exclusive,
    allOf: [
      // A count leaf needs a window's start, and counts one event type (over every source, of one channel or all), not by alias.
      { if: { required: ['times'] }, then: { anyOf: [{ required: ['within'] }, { required: ['after'] }], not: { anyOf: [{ required: ['alias'] }, { required: ['opens'] }, { properties: { event: { const: 'engaged' } } }] } } },
      // An alias is a click's; "opens" goes with "engaged".
      { if: { required: ['alias'] }, then: { properties: { event: { const: 'click' } } } },
      { if: { required: ['opens'] }, then: { properties: { event: { const: 'engaged' } } } },
    ],
    examples: [k.example],
  }));
  const combinators = COMBINATORS.map((c) => ({
    $id: c.name,
    type: 'object',
    description: c.description,
    additionalProperties: false,
    required: [c.key],
    properties: { [c.key]: c.many ? { type: 'array', minItems: 1, maxItems: MAX_LEAVES, items: filterRef } : filterRef },
  }));
  const root = {
    $id: FILTER_SCHEMA,
    description:
      'A retargeting filter: a leaf, or and/or/not of filters. Beyond this schema the API also refuses (400 invalid_filter, with the ' +
      `path of the node): more than ${MAX_LEAVES} leaves, nesting deeper than ${MAX_DEPTH} levels (a leaf alone is 1), a written time ` +
      `that is not a real date (2026-02-30) or is outside [1970, 2100) UTC once its offset is applied, "within" longer than ${MAX_WITHIN}, ` +
      `and in a count leaf ("times") min greater than max or a window starting more than ${COUNT_HORIZON_DAYS} days back.`,
    oneOf: [...LEAF_KINDS, ...COMBINATORS].map((s) => ({ $ref: ref(s.name) })),
    examples: [{ and: [LEAF_KINDS[0].example, { not: { campaign: 'spring-sale', event: 'click' } }] }],
  };
  return [root, ...leaves, ...combinators];
}
