import { CHANNELS, EVENT_TYPES } from './types.js';
import { ID_PATTERN, USER_ID_PATTERN } from './sources.js';
import { MAX_TIME_MS } from './time.js';
import { MAX_MESSAGE_BYTES, MAX_PROPERTIES_DEPTH } from './validate.js';

/**
 * The ISO-8601 times the validator reads (core/time.ts, parseTimeReference's grammar), with the
 * ranges a pattern can say: a written year 1970-2099, month 01-12, day 01-31, hour 00-23,
 * minute and second 00-59, a fraction of 1-9 digits after `.` or `,`, and `Z` or an offset
 * `±hh[[:]mm]` (hh 00-23, mm 00-59); `T` and `Z` in either case.
 */
export const ISO_TIME_PATTERN =
  '^(?:19[7-9][0-9]|20[0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]'
  + '(?::[0-5][0-9](?:[.,][0-9]{1,9})?)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$';

/**
 * The event format (docs/producing.md, "Event format") as a JSON Schema, draft 2020-12 (the dialect of the
 * OpenAPI 3.1 document): served by the API at `GET /schema/event.json` and shipped with the
 * producer library (producer/, `event.schema.json`). Built from the validator's own constants
 * (id patterns, types, channels, time range), beside core/validate.ts.
 *
 * It says everything the validator checks except four rules a JSON Schema cannot (listed in its
 * `description`): a day past its month's end (`2026-02-30`), a written time whose instant falls
 * outside [1970, 2100) UTC once its offset is applied, `properties` nested more than 32 levels,
 * and a message over 16 KiB. An event the validator accepts, the schema accepts; one the schema
 * accepts and the validator refuses breaks one of those four (test/unit/event-schema.test.ts).
 */
export const EVENT_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'tierstream:event.json',
  title: 'tierstream interaction event',
  description:
    'One interaction event, published as UTF-8 JSON to <ns>.events.<type> with the Nats-Msg-Id header set to its id '
    + '(docs/producing.md, "Event format"). Beyond this schema the engine also refuses: a day past the end of its month '
    + `(invalid_time); a time whose instant is outside [1970, 2100) UTC after its offset (invalid_time); properties nested more than ${MAX_PROPERTIES_DEPTH} `
    + `levels of objects and arrays, properties itself the first (invalid_field); a message over ${MAX_MESSAGE_BYTES} bytes (message_too_large); `
    + 'and, at ingestion, a time more than TIERSTREAM_MAX_FUTURE (P1D) ahead of the time the stream stored it (time_in_future).',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'userId', 'time'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per event; also the Nats-Msg-Id. 1-128 characters, dot-separated tokens with none empty.' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    userId: { type: 'string', pattern: USER_ID_PATTERN },
    campaignId: { type: 'string', pattern: ID_PATTERN, description: 'Exactly one of campaignId and canvasId.' },
    canvasId: { type: 'string', pattern: ID_PATTERN, description: 'Exactly one of campaignId and canvasId.' },
    stepId: { type: 'string', pattern: ID_PATTERN, description: 'Only with canvasId.' },
    variantId: { type: 'string', pattern: ID_PATTERN },
    channel: { type: 'string', enum: [...CHANNELS] },
    linkAlias: { type: 'string', pattern: ID_PATTERN, description: 'Only on click events: the link alias clicked.' },
    canvasVariationId: { type: 'string', pattern: ID_PATTERN, description: 'Only with canvasId: the canvas variation.' },
    time: {
      description: 'ISO-8601 with an offset, or integer epoch milliseconds; in [1970, 2100) UTC.',
      anyOf: [
        { type: 'string', pattern: ISO_TIME_PATTERN },
        { type: 'integer', minimum: 0, maximum: MAX_TIME_MS - 1 },
      ],
    },
    properties: { type: 'object', description: `Kept in history as written; at most ${MAX_PROPERTIES_DEPTH} levels of nesting.` },
  },
  // invalid_source: exactly one of campaignId and canvasId; stepId and canvasVariationId only on
  // canvas events. invalid_field: linkAlias only on clicks.
  oneOf: [{ required: ['campaignId'] }, { required: ['canvasId'] }],
  dependentRequired: { stepId: ['canvasId'], canvasVariationId: ['canvasId'] },
  if: { required: ['linkAlias'] },
  then: { properties: { type: { const: 'click' } } },
} as const;
