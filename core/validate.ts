import { Ajv, type ErrorObject } from 'ajv';
import { CHANNELS, EVENT_TYPES, type InteractionEvent } from './types.js';
import { parseTime } from './time.js';
import { ID_PATTERN, USER_ID_PATTERN } from './sources.js';

/** Largest message accepted, in bytes (the contract's 16 KiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * Deepest nesting of objects and arrays accepted in `properties`, which is itself level 1
 * (`{"a":[{}]}` is 3 levels). Deeper ones are `invalid_field`: without a limit a 14 KB message
 * nested 7,000 levels made JSON.stringify overflow the stack. Listed in the README.
 */
export const MAX_PROPERTIES_DEPTH = 32;

/** Why a message cannot be an event: stable codes of the `Tierstream-Error` header (README). */
export type DecodeErrorCode =
  | 'message_too_large'
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_field'
  | 'unknown_field'
  | 'invalid_field'
  | 'invalid_time'
  | 'invalid_source';

/**
 * Every code a dead letter carries: a decode code, or `write_failed` for a valid event that
 * history refused alone, repeatedly, while ClickHouse and Redis answered.
 */
export type DeadLetterCode = DecodeErrorCode | 'write_failed';

export class DecodeError extends Error {
  constructor(readonly code: DecodeErrorCode, message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

const ID = ID_PATTERN;

const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'userId', 'time'],
  properties: {
    id: { type: 'string', pattern: ID },
    type: { type: 'string', enum: EVENT_TYPES },
    userId: { type: 'string', pattern: USER_ID_PATTERN },
    campaignId: { type: 'string', pattern: ID },
    canvasId: { type: 'string', pattern: ID },
    stepId: { type: 'string', pattern: ID },
    variantId: { type: 'string', pattern: ID },
    channel: { type: 'string', enum: CHANNELS },
    time: { type: ['string', 'integer'] },
    properties: { type: 'object' },
  },
} as const;

/**
 * Strict UTF-8: an invalid byte, overlong form, encoded surrogate or truncated sequence throws
 * instead of becoming U+FFFD. Measured faster than Buffer#toString (and than isUtf8 + toString)
 * on 1 KB payloads. ignoreBOM keeps a leading BOM, which JSON.parse rejects, as before.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const check = ajv.compile(eventSchema);

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
 * Decodes and validates one message payload against the contract.
 * Throws DecodeError with a stable code; never anything else.
 */
export function decodeEvent(payload: Uint8Array): InteractionEvent {
  if (payload.byteLength > MAX_MESSAGE_BYTES) {
    throw new DecodeError('message_too_large', `message of ${payload.byteLength} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new DecodeError('invalid_json', 'payload is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DecodeError('invalid_json', (e as Error).message);
  }
  return validateEvent(raw);
}

/**
 * True when `value` nests objects and arrays deeper than `levels` (`value` itself is the first).
 * Visits only objects and arrays, never more than `levels` + 1 deep: cheaper than the
 * JSON.stringify that follows it, and it stops cycles too.
 */
function deeperThan(value: object, levels: number): boolean {
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null && deeperThan(v, levels - 1)) return true;
    }
  } else {
    // for-in measured faster than Object.values or Object.keys on parsed objects.
    for (const k in value) {
      const v = (value as Record<string, unknown>)[k];
      if (typeof v === 'object' && v !== null && deeperThan(v, levels - 1)) return true;
    }
  }
  return false;
}

/** Validates an already parsed event. Throws DecodeError. */
export function validateEvent(raw: unknown): InteractionEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DecodeError('not_an_object', 'an event is a JSON object');
  }
  if (!check(raw)) {
    const err = check.errors![0]!;
    throw new DecodeError(codeOf(err), describe(err));
  }
  const e = raw as {
    id: string; type: InteractionEvent['type']; userId: string; campaignId?: string; canvasId?: string;
    stepId?: string; variantId?: string; channel?: InteractionEvent['channel']; time: string | number;
    properties?: object;
  };
  if ((e.campaignId === undefined) === (e.canvasId === undefined)) {
    throw new DecodeError('invalid_source', 'exactly one of campaignId and canvasId is required');
  }
  if (e.stepId !== undefined && e.canvasId === undefined) {
    throw new DecodeError('invalid_source', 'stepId belongs to canvas events');
  }
  const time = parseTime(e.time);
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
