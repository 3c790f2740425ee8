import { ANY_MESSAGE, LimitError, sourceName, variantStepIds, type InteractionEvent, type Limits, type SourceIdSets, type SourceRef, type SourceRegistry } from '../../core/index.js';

/**
 * The ingest side of the named limits `sources` and `variants_and_steps_per_source` (docs/operating.md,
 * "Limits"), checked before a batch is written: an event of a new source past the namespace's
 * sources, or bringing a variant or step id past its source's, is refused (dead-lettered with
 * the limit's code) and written nowhere.
 *
 * The sources count is this process's mirror of the registry, so several ingest processes
 * creating sources at the same moment may pass it by a batch's new sources each; the variant
 * and step sets are compare-and-set documents (SourceIdSets), exact whatever the processes.
 */
export function createSourceLimits(deps: { registry: SourceRegistry; sourceIds: SourceIdSets; limits: Pick<Limits, 'sources' | 'variantsAndStepsPerSource' | 'linkAliases'> }) {
  const { registry, sourceIds, limits } = deps;

  /** The sources of `sources` (by name) that may not be created: new ones past the limit. */
  async function refusedSources(sources: Map<string, SourceRef>): Promise<Set<string>> {
    const fresh = [...sources].filter(([, s]) => registry.peek(s) === undefined);
    if (fresh.length === 0 || registry.size() + fresh.length <= limits.sources) return new Set();
    // The mirror may trail a source created elsewhere a moment ago: only truly new ones count.
    const found = await Promise.all(fresh.map(([, s]) => registry.get(s)));
    const refused = new Set<string>();
    let room = limits.sources - registry.size();
    fresh.forEach(([name], i) => {
      if (found[i] !== null) return;
      if (room > 0) room--;
      else refused.add(name);
    });
    return refused;
  }

  return {
    /** For each event, the limit it would pass (its dead letter's reason), or undefined. */
    async check(events: readonly InteractionEvent[]): Promise<(LimitError | undefined)[]> {
      const out = new Array<LimitError | undefined>(events.length).fill(undefined);
      const sources = new Map<string, SourceRef>();
      for (const e of events) sources.set(sourceName(e.source), e.source);
      const refused = await refusedSources(sources);
      /** name -> indexes of its events that carry a variant or step id, and their ids. */
      const withIds = new Map<string, { at: number[]; ids: string[][] }>();
      events.forEach((e, i) => {
        const name = sourceName(e.source);
        if (refused.has(name)) {
          out[i] = new LimitError('sources', limits.sources, `${name} would be a new source`);
          return;
        }
        const ids = variantStepIds(e);
        if (ids.length === 0) return;
        let g = withIds.get(name);
        if (!g) withIds.set(name, (g = { at: [], ids: [] }));
        g.at.push(i);
        g.ids.push(ids);
      });
      // Link aliases: one set for the namespace (the any-message pseudo-source's), `a:<alias>`.
      const clicks: number[] = [];
      events.forEach((e, i) => {
        if (e.linkAlias !== undefined && out[i] === undefined) clicks.push(i);
      });
      if (clicks.length) {
        const admitted = await sourceIds.admit(ANY_MESSAGE, clicks.map((i) => [`a:${events[i]!.linkAlias!}`]), limits.linkAliases);
        admitted.forEach((ok, j) => {
          if (!ok) out[clicks[j]!] = new LimitError('linkAliases', limits.linkAliases, `the namespace would have a new link alias (${events[clicks[j]!]!.linkAlias})`);
        });
      }
      await Promise.all(
        [...withIds].map(async ([name, g]) => {
          const admitted = await sourceIds.admit(sources.get(name)!, g.ids, limits.variantsAndStepsPerSource);
          admitted.forEach((ok, j) => {
            if (!ok && out[g.at[j]!] === undefined) out[g.at[j]!] = new LimitError('variantsAndStepsPerSource', limits.variantsAndStepsPerSource, `${name} would have a new variant or step id (${g.ids[j]!.join(', ')})`);
          });
        }),
      );
      return out;
    },
  };
}

export type SourceLimits = ReturnType<typeof createSourceLimits>;
