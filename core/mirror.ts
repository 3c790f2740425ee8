import type { SourceRecord, SourceRef, SourceRegistry } from './types.js';

/** The two reads of a registry: its in-memory mirror and the registry itself. */
export type MirroredRegistry = Pick<SourceRegistry, 'peek' | 'get'>;

/**
 * Each source's record, from the registry's mirror without a round trip where it has one, read
 * from the registry itself where it has none (a source created elsewhere a moment ago, which
 * the mirror trails by milliseconds): null for a source the registry does not know. Mirrored
 * records are compact (SourceRegistry.peek).
 */
export async function recordsOf(registry: MirroredRegistry, sources: readonly SourceRef[]): Promise<(SourceRecord | null)[]> {
  const recs: (SourceRecord | null | undefined)[] = sources.map((s) => registry.peek(s));
  if (!recs.includes(undefined)) return recs as SourceRecord[];
  return Promise.all(sources.map((s, i) => recs[i] ?? registry.get(s)));
}

/** One source's record as recordsOf reads it: the mirror's, else the registry's, else null. */
export async function recordOf(registry: MirroredRegistry, source: SourceRef): Promise<SourceRecord | null> {
  return registry.peek(source) ?? registry.get(source);
}
