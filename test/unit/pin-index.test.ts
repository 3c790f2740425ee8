import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { newSourceRecord, type SourceKind, type SourceRecord, type TagRef } from '../../core/index.js';
import { createPinIndex, pinsWanted, type FilterDoc } from '../../engine/filters/index.js';

/**
 * The pin index (engine/filters/pinning.ts createPinIndex) answers what pinsWanted answers over every
 * filter, after random filter registrations, replacements and deletions.
 */
const test = suite('pin index');

function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('wanted(rec) equals pinsWanted(every filter, rec) after random filter changes', () => {
  const rnd = random(6);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const docs = new Map<string, FilterDoc>();
  const listeners: ((id: string, doc: FilterDoc | null) => void)[] = [];
  const store = { values: () => docs.values(), onChange: (l: (id: string, doc: FilterDoc | null) => void) => void listeners.push(l) };
  const tags = ['a', 'b', 'c', 'd'];
  const names = Array.from({ length: 12 }, (_, i) => `${i % 3 ? 'campaign' : 'canvas'}:s${i}`);
  docs.set('f-initial', { id: 'f-initial', filter: {}, sources: [names[0]!], tags: [{ tag: 'a' }], updatedAt: 0 });
  const index = createPinIndex(store);
  const records: SourceRecord[] = names.map((n, i) => {
    const [kind, id] = n.split(':') as [SourceKind, string];
    return { ...newSourceRecord({ kind, id }, 0), tags: tags.filter(() => rnd() < 0.4), pinnedBy: i % 4 === 0 ? ['f-unknown', 'f3'] : [] };
  });
  for (let step = 0; step < 2_000; step++) {
    const id = `f${Math.floor(rnd() * 30)}`;
    let doc: FilterDoc | null = null;
    if (rnd() < 0.8) {
      const leaves: TagRef[] = Array.from({ length: Math.floor(rnd() * 3) }, () => (rnd() < 0.5 ? { tag: pick(tags) } : { tag: pick(tags), kind: pick(['campaign', 'canvas'] as const) }));
      doc = { id, filter: {}, sources: [...new Set(Array.from({ length: Math.floor(rnd() * 3) }, () => pick(names)))], ...(rnd() < 0.9 && { tags: leaves }), updatedAt: step };
      docs.set(id, doc);
    } else docs.delete(id);
    for (const l of listeners) l(id, doc);
    for (const rec of records) assert.equal(index.wanted(rec), pinsWanted(docs.values(), rec), `step ${step}, ${rec.kind}:${rec.id}`);
  }
});

test.run();
