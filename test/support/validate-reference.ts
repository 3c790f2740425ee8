/**
 * The test oracle of core/validate.ts: validateEvent as it was before the hand-written one,
 * ajv with the event format's JSON Schema, then the source, time and properties rules.
 * test/unit/validate.test.ts and bench/validate.ts compare validateEvent against it; product
 * code never loads it (nor ajv for it).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  CANVAS_VARIATION_RULE, CHANNELS, DecodeError, LINK_ALIAS_RULE, deeperThan, EVENT_TYPES, ID_PATTERN, MAX_PROPERTIES_DEPTH, parseTimeReference, USER_ID_PATTERN,
  type DecodeErrorCode, type InteractionEvent,
} from '../../core/index.js';

/**
 * The event format (docs/producing.md, "Event format") as JSON Schema: the specification validateEvent
 * implements by hand, compiled by ajv here only.
 */
const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'userId', 'time'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    type: { type: 'string', enum: EVENT_TYPES },
    userId: { type: 'string', pattern: USER_ID_PATTERN },
    campaignId: { type: 'string', pattern: ID_PATTERN },
    canvasId: { type: 'string', pattern: ID_PATTERN },
    stepId: { type: 'string', pattern: ID_PATTERN },
    variantId: { type: 'string', pattern: ID_PATTERN },
    channel: { type: 'string', enum: CHANNELS },
    linkAlias: { type: 'string', pattern: ID_PATTERN },
    canvasVariationId: { type: 'string', pattern: ID_PATTERN },
    time: { type: ['string', 'integer'] },
    properties: { type: 'object' },
  },
} as const;

let ajvCheck: ValidateFunction | undefined;
/** The schema compiled on first use: the hot path never needs it. */
const compiled = (): ValidateFunction =>
  (ajvCheck ??= new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(eventSchema));

function codeOf(err: ErrorObject): DecodeErrorCode {
  switch (err.keyword) {
    case 'required': return 'missing_field';
    case 'additionalProperties': return 'unknown_field';
    case 'type': return err.instancePath === '' ? 'not_an_object' : 'invalid_field';
    default: return 'invalid_field';
  }
}

function describe(err: ErrorObject): string {
  if (err.keyword === 'required') return `missing field "${(err.params as { missingProperty: string }).missingProperty}"`;
  if (err.keyword === 'additionalProperties') {
    return `unknown field "${(err.params as { additionalProperty: string }).additionalProperty}"`;
  }
  return `${err.instancePath.slice(1) || 'event'} ${err.message ?? 'is invalid'}`;
}

/**
 * validateEvent as it was before the hand-written one: ajv, then the source, time and
 * properties rules. Same codes, messages and events. Throws DecodeError.
 */
export function validateEventReference(raw: unknown): InteractionEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DecodeError('not_an_object', 'an event is a JSON object');
  }
  const check = compiled();
  if (!check(raw)) {
    const err = check.errors![0]!;
    throw new DecodeError(codeOf(err), describe(err));
  }
  const e = raw as {
    id: string; type: InteractionEvent['type']; userId: string; campaignId?: string; canvasId?: string;
    stepId?: string; variantId?: string; channel?: InteractionEvent['channel']; time: string | number;
    linkAlias?: string; canvasVariationId?: string; properties?: object;
  };
  if ((e.campaignId === undefined) === (e.canvasId === undefined)) {
    throw new DecodeError('invalid_source', 'exactly one of campaignId and canvasId is required');
  }
  if (e.stepId !== undefined && e.canvasId === undefined) {
    throw new DecodeError('invalid_source', 'stepId belongs to canvas events');
  }
  if (e.canvasVariationId !== undefined && e.canvasId === undefined) throw new DecodeError('invalid_source', CANVAS_VARIATION_RULE);
  if (e.linkAlias !== undefined && e.type !== 'click') throw new DecodeError('invalid_field', LINK_ALIAS_RULE);
  const time = parseTimeReference(e.time);
  if (time === undefined) {
    throw new DecodeError('invalid_time', 'time is neither ISO-8601 with an offset nor epoch milliseconds in [1970, 2100)');
  }
  const event: InteractionEvent = {
    id: e.id,
    type: e.type,
    userId: e.userId,
    source: e.campaignId !== undefined ? { kind: 'campaign', id: e.campaignId } : { kind: 'canvas', id: e.canvasId! },
    time,
  };
  if (e.variantId !== undefined) event.variantId = e.variantId;
  if (e.stepId !== undefined) event.stepId = e.stepId;
  if (e.channel !== undefined) event.channel = e.channel;
  if (e.linkAlias !== undefined) event.linkAlias = e.linkAlias;
  if (e.canvasVariationId !== undefined) event.canvasVariationId = e.canvasVariationId;
  if (e.properties !== undefined) {
    if (deeperThan(e.properties, MAX_PROPERTIES_DEPTH)) {
      throw new DecodeError('invalid_field', `properties nested more than ${MAX_PROPERTIES_DEPTH} levels deep (objects and arrays)`);
    }
    try {
      event.properties = JSON.stringify(e.properties);
    } catch (err) {
      // Not reachable from decodeEvent's parsed JSON; an object given to validateEvent may hold a BigInt.
      throw new DecodeError('invalid_field', `properties cannot be serialised as JSON: ${(err as Error).message}`);
    }
  }
  return event;
}
