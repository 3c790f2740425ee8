import type { SourceRecord, SourceRef } from './types.js';
import { sourceName } from './sources.js';
import { TierstreamError } from './errors.js';
import { recordsOf, type MirroredRegistry } from './mirror.js';

/**
 * Named limits (docs/operating.md, "Limits"): each bounds something whose cost would otherwise grow
 * without end, with a default generous for real use (a Braze campaign has up to 8 variants, a
 * canvas hundreds of steps). Configured by the entry point (TIERSTREAM_MAX_*).
 */
export interface Limits {
  /**
   * Distinct variant ids plus distinct step ids one source may have (each adds hot-index keys
   * that a user lookup reads). Events bringing more are dead-lettered `too_many_variants_and_steps`.
   */
  variantsAndStepsPerSource: number;
  /** Sources (campaigns and canvases) in the namespace: every process mirrors the registry. */
  sources: number;
  /** Registered filters (PUT /v1/filters/:id): each is consulted at every registry change. */
  filters: number;
  /** Tags one source may carry. */
  tagsPerSource: number;
  /**
   * Distinct link aliases (`linkAlias` of clicks) in the namespace: each is an index of the
   * any-message pseudo-source, whose dictionary holds at most 32,767 (storage/redis layout.ts).
   * Clicks bringing more are dead-lettered `too_many_link_aliases`.
   */
  linkAliases: number;
}

export const LIMIT_DEFAULTS: Limits = {
  variantsAndStepsPerSource: 1_000,
  sources: 1_000_000,
  filters: 10_000,
  tagsPerSource: 64,
  linkAliases: 10_000,
};

/**
 * The largest `linkAliases` allowed: the any-message pseudo-source's dictionary (2-byte ids,
 * 32,767) also holds its type and channel indexes (under 100), and the set of aliases is one
 * NATS KV document (30,000 ids of 128 characters stay under 4 MiB only with a larger payload
 * limit: at NATS's default 1 MiB, about 8,000 long or 30,000 short aliases).
 */
export const MAX_LINK_ALIASES_LIMIT = 30_000;

/**
 * The largest `variantsAndStepsPerSource` allowed: a source's ids are one NATS KV document,
 * and 5,000 ids of 128 characters stay under NATS's default 1 MiB payload.
 */
export const MAX_VARIANTS_AND_STEPS_LIMIT = 5_000;

/** The largest `tagsPerSource` allowed (the API's schemas refuse longer tag lists outright). */
export const MAX_TAGS_LIMIT = 1_000;

/** A limit's name as answers and dead letters give it (`limit`), beside its option. */
export const LIMIT_NAMES = {
  variantsAndStepsPerSource: 'variants_and_steps_per_source',
  sources: 'sources',
  filters: 'filters',
  tagsPerSource: 'tags_per_source',
  linkAliases: 'link_aliases',
} as const satisfies Record<keyof Limits, string>;

/** The stable code of each limit: the dead letter's `Tierstream-Error` and the API's `error`. */
export const LIMIT_CODES = {
  variantsAndStepsPerSource: 'too_many_variants_and_steps',
  sources: 'too_many_sources',
  filters: 'too_many_filters',
  tagsPerSource: 'too_many_tags',
  linkAliases: 'too_many_link_aliases',
} as const satisfies Record<keyof Limits, string>;

export type LimitCode = (typeof LIMIT_CODES)[keyof Limits];

/** Something would pass a limit: carries the limit's code, name and value. */
export class LimitError extends TierstreamError<LimitCode> {
  readonly limit: string;
  constructor(readonly which: keyof Limits, readonly max: number, what: string, options?: { cause?: unknown }) {
    super(LIMIT_CODES[which], `${what}: past the limit ${LIMIT_NAMES[which]} (${max})`, options);
    this.limit = LIMIT_NAMES[which];
  }
}

/** The limits with `partial` merged over the defaults; RangeError naming a bad field. */
export function limitsWith(partial: Partial<Limits> = {}): Limits {
  const limits = { ...LIMIT_DEFAULTS, ...partial };
  for (const k of Object.keys(LIMIT_DEFAULTS) as (keyof Limits)[]) {
    if (!Number.isInteger(limits[k]) || limits[k] < 1) throw new RangeError(`limit ${k} must be a positive integer, got ${limits[k]}`);
  }
  if (limits.tagsPerSource > MAX_TAGS_LIMIT) throw new RangeError(`limit tagsPerSource must be at most ${MAX_TAGS_LIMIT}, got ${limits.tagsPerSource}`);
  if (limits.linkAliases > MAX_LINK_ALIASES_LIMIT) throw new RangeError(`limit linkAliases must be at most ${MAX_LINK_ALIASES_LIMIT}, got ${limits.linkAliases}`);
  if (limits.variantsAndStepsPerSource > MAX_VARIANTS_AND_STEPS_LIMIT) {
    throw new RangeError(`limit variantsAndStepsPerSource must be at most ${MAX_VARIANTS_AND_STEPS_LIMIT}, got ${limits.variantsAndStepsPerSource}`);
  }
  return limits;
}

/**
 * A source's variant and step ids as one set's members (`v:B`, `s:s3`): both kinds of id add
 * index keys, so one limit counts them together.
 */
export function variantStepIds(e: { variantId?: string; stepId?: string }): string[] {
  const ids: string[] = [];
  if (e.variantId !== undefined) ids.push(`v:${e.variantId}`);
  if (e.stepId !== undefined) ids.push(`s:${e.stepId}`);
  return ids;
}

/** Sources named by a filter or a request that the registry does not know. */
export class SourceNotFoundError extends TierstreamError<'source_not_found'> {
  constructor(readonly sources: string[], options?: { cause?: unknown }) {
    super('source_not_found', `not known: ${sources.join(', ')}; declare them with PUT /v1/campaigns/:id (or canvases), or check the ids`, options);
  }
}

/**
 * The names (`campaign:A`) of `sources` the registry does not know: from its mirror without a
 * round trip, and a source the mirror lacks (created elsewhere a moment ago) read from the
 * registry itself.
 */
export async function unknownSources(registry: MirroredRegistry, sources: readonly SourceRef[]): Promise<string[]> {
  const recs = await recordsOf(registry, sources);
  return sources.filter((_, i) => recs[i] === null).map(sourceName);
}
