import type { IndexSource, SourceKind, SourceRef } from './types.js';

/**
 * Id character sets (docs/producing.md, "Event format"), shared by event validation, the API schemas and the
 * filter grammar. An id is one or more tokens of `[A-Za-z0-9_:-]` joined by single dots: a
 * source's id is the last part of its notices' NATS subject (`<ns>.tiers.campaign.<id>`), where
 * an empty token (`x..y`, `a.`, `.a`) makes no subject, and every publish of such a source's
 * notices failed. Dot segments (`.`, `..`) are refused by the same rule. User ids are never in a
 * subject and keep dots anywhere; `.` and `..` alone are refused: as a URL path segment they are
 * dot segments, which browsers and proxies remove even percent-encoded (`%2E%2E`), so such a user
 * could be ingested but never reached through the API.
 */
export const ID_PATTERN = '^(?=.{1,128}$)[A-Za-z0-9_:-]+(?:\\.[A-Za-z0-9_:-]+)*$';
export const USER_ID_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._:@+-]{1,128}$';

const ID_RE = new RegExp(ID_PATTERN);

/** Whether `id` is a valid source, variant, step, tag or event id. */
export const isId = (id: string): boolean => ID_RE.test(id);

/** `campaign:A`: a source as one string, the way the API names sources. */
export function sourceName(source: IndexSource): string {
  return `${source.kind}:${source.id}`;
}

/**
 * `campaign:A` -> `{kind: 'campaign', id: 'A'}`; undefined unless the kind is campaign or
 * canvas and the id valid (ids may hold `:`: the kind ends at the first one).
 */
export function parseSourceName(name: string): SourceRef | undefined {
  const colon = name.indexOf(':');
  if (colon < 0) return undefined;
  const kind = name.slice(0, colon) as SourceKind;
  const id = name.slice(colon + 1);
  return (kind === 'campaign' || kind === 'canvas') && isId(id) ? { kind, id } : undefined;
}
