import { CHANNELS, type Channel, type EventType } from './types.js';

/**
 * Names of a source's indexes: `any`, `e:<type>`, `v:<variant>:<type>`, `s:<step>:<type>`, and
 * for clicks with a link alias `a:<alias>` and, in a step, `sa:<step>|<alias>` (`|` is in no id's
 * character set, so the split is exact). The any-message pseudo-source (ANY_MESSAGE) holds
 * `e:<type>`, `c:<channel>:<type>` and `a:<alias>`. The fold produces them, the hot index stores
 * them, history answers in them.
 */
export const indexName = {
  any: 'any',
  type: (type: EventType) => `e:${type}`,
  variant: (variant: string, type: EventType) => `v:${variant}:${type}`,
  step: (step: string, type: EventType) => `s:${step}:${type}`,
  channel: (channel: Channel, type: EventType) => `c:${channel}:${type}`,
  alias: (alias: string) => `a:${alias}`,
  stepAlias: (step: string, alias: string) => `sa:${step}|${alias}`,
};

/**
 * The indexes the any-message pseudo-source stores for a lookup's index: `e:<type>` (every
 * channel) is not stored for events that have a channel, only `c:<channel>:<type>` is, so a
 * user's value holds each (channel, type) once and stays small enough for a listpack
 * (values under 64 bytes: docs/design.md, "Hot index"); `e:<type>` is read as the latest of the stored
 * `e:<type>` (events without a channel) and every `c:<channel>:<type>`. Other indexes are
 * stored as named.
 */
export function anyMessageStored(index: string): string[] {
  if (!index.startsWith('e:')) return [index];
  const type = index.slice(2) as EventType;
  return [index, ...CHANNELS.map((c) => indexName.channel(c, type))];
}

/** Parsed index name: the type is always the last segment (ids may contain `:`, types cannot). */
export type ParsedIndex =
  | { kind: 'any' }
  | { kind: 'type'; type: EventType }
  | { kind: 'variant' | 'step'; id: string; type: EventType }
  | { kind: 'channel'; channel: Channel; type: EventType }
  | { kind: 'alias'; alias: string }
  | { kind: 'stepAlias'; step: string; alias: string };

export function parseIndexName(name: string): ParsedIndex {
  if (name === 'any') return { kind: 'any' };
  if (name.startsWith('a:')) return { kind: 'alias', alias: name.slice(2) };
  if (name.startsWith('sa:')) {
    const bar = name.indexOf('|');
    return { kind: 'stepAlias', step: name.slice(3, bar), alias: name.slice(bar + 1) };
  }
  const last = name.lastIndexOf(':');
  const type = name.slice(last + 1) as EventType;
  if (name.startsWith('e:')) return { kind: 'type', type };
  if (name.startsWith('c:')) return { kind: 'channel', channel: name.slice(2, last) as Channel, type };
  return { kind: name.startsWith('v:') ? 'variant' : 'step', id: name.slice(2, last), type };
}

