import type { EventType } from './types.js';

/**
 * Names of a source's indexes: `any`, `e:<type>`, `v:<variant>:<type>`, `s:<step>:<type>`.
 * The fold produces them, the hot index stores one sorted set per name, history answers in them.
 */
export const indexName = {
  any: 'any',
  type: (type: EventType) => `e:${type}`,
  variant: (variant: string, type: EventType) => `v:${variant}:${type}`,
  step: (step: string, type: EventType) => `s:${step}:${type}`,
};

/** Parsed index name: the type is always the last segment (ids may contain `:`, types cannot). */
export type ParsedIndex =
  | { kind: 'any' }
  | { kind: 'type'; type: EventType }
  | { kind: 'variant' | 'step'; id: string; type: EventType };

export function parseIndexName(name: string): ParsedIndex {
  if (name === 'any') return { kind: 'any' };
  const last = name.lastIndexOf(':');
  const type = name.slice(last + 1) as EventType;
  if (name.startsWith('e:')) return { kind: 'type', type };
  return { kind: name.startsWith('v:') ? 'variant' : 'step', id: name.slice(2, last), type };
}

