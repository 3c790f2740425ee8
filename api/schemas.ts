import { ID_PATTERN, USER_ID_PATTERN } from '../core/index.js';

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
