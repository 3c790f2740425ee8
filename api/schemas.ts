import { EVENT_TYPES, ID_PATTERN, MAX_DEPTH, MAX_LEAVES, USER_ID_PATTERN } from '../core/index.js';

/** JSON Schemas shared by the routes (ids by the contract's character sets). */
export const idString = { type: 'string', pattern: ID_PATTERN } as const;
export const userIdString = { type: 'string', pattern: USER_ID_PATTERN } as const;
// Epoch milliseconds or ISO-8601 text; bodies are not coerced, so `null` or `true` is a 400.
export const timeValue = { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 64 }] } as const;

export const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: idString },
} as const;

/**
 * A retargeting filter in a body. Its grammar is checked by core parseFilter, which names the
 * bad node's path (400 invalid_filter); this schema accepts any value and documents the grammar
 * in the OpenAPI document.
 */
export const filterSchema = {
  description:
    'A leaf {"campaign": id, "event": type, "variant"?: id, "after"?: time, "before"?: time, "within"?: duration} or ' +
    '{"canvas": id, "step"?: id, "event": type, ...}, or a tag leaf {"tag": tag, "kind"?: "campaign"|"canvas", "event": type, "after"?, "before"?, "within"?} ' +
    '(the sources of that kind carrying the tag when the lookup runs; it matches on the latest such event over all of them; ' +
    'a tag no source carries matches no user), or {"and": [f, ...]}, {"or": [f, ...]}, {"not": f}; ' +
    `at most ${MAX_LEAVES} leaves and depth ${MAX_DEPTH}. Event types: ${EVENT_TYPES.join(', ')} ` +
    '(an "open" leaf does not match machine opens).',
} as const;

/** Most items in one page of a listing (sources, expiring, erasures). */
export const MAX_PAGE = 500;
/** The `limit` query parameter of every paged listing. */
export const pageLimit = { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 } as const;
