import type { SourceKind, SourceRef } from './types.js';

/**
 * Id character sets (README, "Event format"), shared by event validation, the API schemas and the
 * filter grammar. `.` and `..` alone are refused: as a URL path segment they are dot segments,
 * which browsers and proxies remove even percent-encoded (`%2E%2E`), so such a source or user
 * could be ingested but never reached through the API.
 */
export const ID_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._:-]{1,128}$';
export const USER_ID_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._:@+-]{1,128}$';

const ID_RE = new RegExp(ID_PATTERN);

/** Whether `id` is a valid source, variant, step, tag or event id. */
export const isId = (id: string): boolean => ID_RE.test(id);

/** `campaign:A`: a source as one string, the way the API names sources. */
export function sourceName(source: SourceRef): string {
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
