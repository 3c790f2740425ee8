import { addDuration, parseDuration } from '../duration.js';
import { CHANNELS, EVENT_TYPES, type Channel, type EventType, type SourceKind, type SourceRef } from '../types.js';
import { parseTime } from '../time.js';
import { isId, sourceName } from '../sources.js';
import { TierstreamError } from '../errors.js';

/** Limits of the filter grammar (docs/filters.md, "Grammar"). */
export const MAX_LEAVES = 32;
export const MAX_DEPTH = 8;
/**
 * Longest `within`: 200 years. Every time is in [1970, 2100), so a longer window means the
 * same as none; beyond Date's range it would be NaN, which no backend can compare with.
 */
export const MAX_WITHIN = 'P200Y';
const MAX_WITHIN_MS = addDuration(0, parseDuration(MAX_WITHIN)!);

interface LeafWindow {
  event: EventType;
  /** Epoch ms bounds; `within` is kept as a duration and resolved against "now" at evaluation. */
  after?: number;
  before?: number;
  within?: string;
  /** A count leaf's bounds (docs/filters.md, "Count leaves"): distinct events in the window, in [min, max]. */
  times?: LeafTimes;
}

/** Bounds of a count leaf: `min` defaults to 0 (within the universe, as a `not`), `max` to no bound. */
export interface LeafTimes {
  min: number;
  max: number;
}

/** Horizon of count leaves: their window reaches at most this far back (and `within` at most this long). */
export const COUNT_HORIZON_DAYS = 730;
/** Largest bound a count leaf may name. */
export const MAX_TIMES = 1_000_000;

/** A leaf naming one campaign or canvas (and a variant or step of it). */
export interface SourceLeaf extends LeafWindow {
  source: SourceRef;
  variant?: string;
  step?: string;
  /** Click leaves only: the link alias clicked (not with `variant`). */
  alias?: string;
}

/**
 * A leaf naming a tag: it stands for the sources of `kind` (both kinds when absent) carrying the
 * tag when the lookup runs, and matches on the latest such event over all of them.
 */
export interface TagLeaf extends LeafWindow {
  tag: TagRef;
  /** Click leaves only: the link alias clicked. */
  alias?: string;
}

/** Which opens `"event": "engaged"` counts: machine (`machine_open`), other (`open`), any (both). */
export type OpensKind = 'machine' | 'other' | 'any';

/**
 * A leaf over every source (`{"any": "message", ...}`): the user's latest such event over every
 * campaign and canvas, whatever their tiers. `engaged` is the latest click or open (`opens`).
 */
export interface AnyLeaf extends Omit<LeafWindow, 'event'> {
  any: 'message';
  event: EventType | 'engaged';
  channel?: Channel;
  /** With `engaged` only; absent means `any`. */
  opens?: OpensKind;
  /** With `click` only, and not with `channel`. */
  alias?: string;
}

/** A tag as a leaf names it: the tag, and the kind of source when given. */
export interface TagRef {
  tag: string;
  kind?: SourceKind;
}

export type Leaf = SourceLeaf | TagLeaf | AnyLeaf;

export type Filter = { leaf: Leaf } | { and: Filter[] } | { or: Filter[] } | { not: Filter };

export class FilterError extends TierstreamError<'invalid_filter'> {
  constructor(readonly path: string, message: string, options?: { cause?: unknown }) {
    super('invalid_filter', `${path}: ${message}`, options);
  }
}

const LEAF_KEYS = new Set(['campaign', 'canvas', 'tag', 'kind', 'event', 'variant', 'step', 'after', 'before', 'within', 'any', 'channel', 'opens', 'alias', 'times']);
/** Keys only any-message leaves take. */
const ANY_KEYS = ['channel', 'opens'] as const;
const OPENS: readonly string[] = ['machine', 'other', 'any'];

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses a retargeting filter of the grammar in docs/filters.md, "Grammar". Throws FilterError naming the path of
 * the offending node (`filter.and[1].not.campaign`) for unknown keys, wrong types, empty
 * combinators, invalid ids, more than 32 leaves or depth beyond 8.
 */
export function parseFilter(raw: unknown, path = 'filter'): Filter {
  let leaves = 0;
  const walk = (node: unknown, p: string, depth: number): Filter => {
    if (depth > MAX_DEPTH) throw new FilterError(p, `deeper than ${MAX_DEPTH} levels`);
    if (!isObject(node)) throw new FilterError(p, 'must be an object');
    const keys = Object.keys(node);
    for (const k of ['and', 'or'] as const) {
      if (k in node) {
        if (keys.length !== 1) throw new FilterError(p, `"${k}" stands alone in its object`);
        const members = node[k];
        if (!Array.isArray(members) || members.length === 0) throw new FilterError(`${p}.${k}`, 'must be a non-empty array');
        const parsed = members.map((m, i) => walk(m, `${p}.${k}[${i}]`, depth + 1));
        return k === 'and' ? { and: parsed } : { or: parsed };
      }
    }
    if ('not' in node) {
      if (keys.length !== 1) throw new FilterError(p, '"not" stands alone in its object');
      return { not: walk(node.not, `${p}.not`, depth + 1) };
    }
    if (++leaves > MAX_LEAVES) throw new FilterError(p, `more than ${MAX_LEAVES} leaves`);
    return { leaf: parseLeaf(node, p) };
  };
  return walk(raw, path, 1);
}

function parseLeaf(node: Record<string, unknown>, p: string): Leaf {
  for (const k of Object.keys(node)) if (!LEAF_KEYS.has(k)) throw new FilterError(`${p}.${k}`, 'unknown key');
  const id = (k: string): string | undefined => {
    const v = node[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !isId(v)) throw new FilterError(`${p}.${k}`, 'must be an id of [A-Za-z0-9._:-]{1,128}, not "." or ".."');
    return v;
  };
  const campaign = id('campaign');
  const canvas = id('canvas');
  const tag = id('tag');
  if (node.any !== undefined && node.any !== 'message') throw new FilterError(`${p}.any`, 'must be "message"');
  const any = node.any !== undefined;
  if ([campaign, canvas, tag, any || undefined].filter((v) => v !== undefined).length !== 1) {
    throw new FilterError(p, 'a leaf names exactly one of "campaign", "canvas", "tag" and "any"');
  }
  if (any) {
    for (const k of ['kind', 'variant', 'step'] as const) if (k in node) throw new FilterError(`${p}.${k}`, 'an any-message leaf has no kind, variant or step');
  } else {
    for (const k of ANY_KEYS) if (k in node) throw new FilterError(`${p}.${k}`, `"${k}" belongs to any-message leaves`);
  }
  const alias = id('alias');
  if (tag !== undefined) {
    for (const k of ['variant', 'step'] as const) if (k in node) throw new FilterError(`${p}.${k}`, 'a tag leaf has no variant or step');
  } else if ('kind' in node) throw new FilterError(`${p}.kind`, '"kind" belongs to tag leaves');
  if (node.kind !== undefined && node.kind !== 'campaign' && node.kind !== 'canvas') throw new FilterError(`${p}.kind`, 'must be "campaign" or "canvas"');
  const step = id('step');
  if (step !== undefined && canvas === undefined) throw new FilterError(`${p}.step`, '"step" belongs to canvas leaves');
  const variant = id('variant');
  // The hot index keeps the latest time per variant and per step, not per variant-and-step.
  if (variant !== undefined && step !== undefined) throw new FilterError(`${p}.variant`, '"variant" and "step" exclude each other in one leaf');
  const engaged = any && node.event === 'engaged';
  if (!engaged && (typeof node.event !== 'string' || !(EVENT_TYPES as readonly string[]).includes(node.event))) {
    throw new FilterError(`${p}.event`, `must be one of ${EVENT_TYPES.join(', ')}${any ? ', engaged' : ''}`);
  }
  const event = node.event as EventType;
  if (alias !== undefined && event !== 'click') throw new FilterError(`${p}.alias`, '"alias" belongs to click leaves');
  // The hot index keeps the latest click per alias in a source or step, not per variant or channel.
  if (alias !== undefined && variant !== undefined) throw new FilterError(`${p}.alias`, '"alias" and "variant" exclude each other in one leaf');
  if (alias !== undefined && node.channel !== undefined) throw new FilterError(`${p}.alias`, '"alias" and "channel" exclude each other in one leaf');
  let leaf: Leaf;
  if (any) {
    const anyLeaf: AnyLeaf = { any: 'message', event: engaged ? 'engaged' : event };
    if (node.channel !== undefined) {
      if (typeof node.channel !== 'string' || !(CHANNELS as readonly string[]).includes(node.channel)) {
        throw new FilterError(`${p}.channel`, `must be one of ${CHANNELS.join(', ')}`);
      }
      anyLeaf.channel = node.channel as Channel;
    }
    if (node.opens !== undefined) {
      if (!engaged) throw new FilterError(`${p}.opens`, '"opens" belongs to "event": "engaged"');
      if (typeof node.opens !== 'string' || !OPENS.includes(node.opens)) throw new FilterError(`${p}.opens`, 'must be "machine", "other" or "any"');
      anyLeaf.opens = node.opens as OpensKind;
    }
    if (alias !== undefined) anyLeaf.alias = alias;
    leaf = anyLeaf;
  } else if (tag !== undefined) {
    leaf = { tag: node.kind === undefined ? { tag } : { tag, kind: node.kind as SourceKind }, event };
    if (alias !== undefined) leaf.alias = alias;
  } else {
    const sourceLeaf: SourceLeaf = { source: campaign !== undefined ? { kind: 'campaign', id: campaign } : { kind: 'canvas', id: canvas! }, event };
    if (variant !== undefined) sourceLeaf.variant = variant;
    if (step !== undefined) sourceLeaf.step = step;
    if (alias !== undefined) sourceLeaf.alias = alias;
    leaf = sourceLeaf;
  }
  for (const k of ['after', 'before'] as const) {
    if (node[k] === undefined) continue;
    const t = parseTime(node[k]);
    if (t === undefined) throw new FilterError(`${p}.${k}`, 'must be ISO-8601 with an offset or epoch milliseconds');
    leaf[k] = t;
  }
  if (node.within !== undefined) {
    const d = typeof node.within === 'string' ? parseDuration(node.within) : undefined;
    if (!d) throw new FilterError(`${p}.within`, 'must be an ISO-8601 duration such as P30D');
    // `!(x <= max)` also refuses NaN: P999999Y overflows the calendar.
    if (!(addDuration(0, d) <= MAX_WITHIN_MS)) throw new FilterError(`${p}.within`, `must be at most ${MAX_WITHIN}`);
    if (leaf.after !== undefined) throw new FilterError(`${p}.within`, '"within" and "after" exclude each other');
    leaf.within = node.within as string;
  }
  if (node.times !== undefined) {
    // Counts are by event type (and, over every source, channel): no index keeps a count per link
    // alias, and `opens` belongs to `engaged`.
    for (const k of ['alias', 'opens'] as const) if (node[k] !== undefined) throw new FilterError(`${p}.times`, `a count leaf takes no "${k}" (counts are by event type)`);
    if (node.channel !== undefined && !any) throw new FilterError(`${p}.times`, 'a count leaf takes a "channel" over every source only ({"any": "message", ...})');
    if (engaged) throw new FilterError(`${p}.times`, 'a count leaf counts one event type, not "engaged"');
    leaf.times = parseTimes(node, p);
  }
  return leaf;
}

/**
 * A count leaf's `times`: at least one of `min` and `max`, integers in [0, MAX_TIMES], min <= max,
 * and a window starting at most COUNT_HORIZON_DAYS back: `within` (no longer than the horizon,
 * a month counted as 31 days and a year as 366, so it fits whatever the date) or `after` (checked
 * against the time of each lookup: countHorizon in counts.ts).
 */
function parseTimes(node: Record<string, unknown>, p: string): LeafTimes {
  const raw = node.times;
  if (!isObject(raw)) throw new FilterError(`${p}.times`, 'must be an object {"min"?: n, "max"?: n}');
  for (const k of Object.keys(raw)) if (k !== 'min' && k !== 'max') throw new FilterError(`${p}.times.${k}`, 'unknown key');
  if (raw.min === undefined && raw.max === undefined) throw new FilterError(`${p}.times`, 'needs "min" or "max" (or both)');
  for (const k of ['min', 'max'] as const) {
    const v = raw[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TIMES)) throw new FilterError(`${p}.times.${k}`, `must be an integer from 0 to ${MAX_TIMES}`);
  }
  const times = { min: (raw.min as number | undefined) ?? 0, max: (raw.max as number | undefined) ?? Infinity };
  if (times.min > times.max) throw new FilterError(`${p}.times`, '"min" is greater than "max"');
  if (node.within === undefined && node.after === undefined) {
    throw new FilterError(`${p}.times`, `a count leaf needs a window starting at most ${COUNT_HORIZON_DAYS} days back: "within" or "after"`);
  }
  if (node.within !== undefined) {
    const d = parseDuration(node.within as string)!;
    const longest = (d.years * 366 + d.months * 31) * 86_400_000 + addDuration(0, { ...d, years: 0, months: 0 });
    if (longest > COUNT_HORIZON_DAYS * 86_400_000) throw new FilterError(`${p}.within`, `a count leaf's window is at most ${COUNT_HORIZON_DAYS} days (P${COUNT_HORIZON_DAYS}D)`);
  }
  return times;
}

function leaves(f: Filter): Leaf[] {
  const out: Leaf[] = [];
  const walk = (n: Filter): void => {
    if ('leaf' in n) out.push(n.leaf);
    else if ('not' in n) walk(n.not);
    else for (const m of 'and' in n ? n.and : n.or) walk(m);
  };
  walk(f);
  return out;
}

/** The sources a filter names by id (not through tags), deduplicated, in order of first mention. */
export function filterSources(f: Filter): SourceRef[] {
  const out = new Map<string, SourceRef>();
  for (const l of leaves(f)) if ('source' in l) out.set(sourceName(l.source), l.source);
  return [...out.values()];
}

/** The tags a filter's tag leaves name (with their kind), deduplicated, in order of first mention. */
export function filterTags(f: Filter): TagRef[] {
  const out = new Map<string, TagRef>();
  for (const l of leaves(f)) if ('tag' in l) out.set(`${l.tag.kind ?? ''}|${l.tag.tag}`, l.tag);
  return [...out.values()];
}

/** Whether a source of `kind` carrying `tags` is one a tag leaf naming `t` stands for. */
export function carriesTag(t: TagRef, kind: SourceKind, tags: readonly string[]): boolean {
  return (t.kind === undefined || t.kind === kind) && tags.includes(t.tag);
}
