import { Ajv, type ErrorObject } from 'ajv';
import { CHANNELS, EVENT_TYPES, type InteractionEvent } from './types.js';
import { parseTime } from './time.js';

/** Largest message accepted, in bytes (the contract's 16 KiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** Stable codes put in the `Tierstream-Error` header of dead letters. Listed in the README. */
export type DecodeErrorCode =
  | 'message_too_large'
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_field'
  | 'unknown_field'
  | 'invalid_field'
  | 'invalid_time'
  | 'invalid_source'
  /** Valid, but its write failed repeatedly while ClickHouse and Redis answered (the cause follows). */
  | 'write_failed';

export class DecodeError extends Error {
  constructor(readonly code: DecodeErrorCode, message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

const ID = '^[A-Za-z0-9._:-]{1,128}$';
/** Id character sets of the contract, shared with the API schemas. */
export const ID_PATTERN = ID;
export const USER_ID_PATTERN = '^[A-Za-z0-9._:@+-]{1,128}$';

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
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (e) {
    throw new DecodeError('invalid_json', (e as Error).message);
  }
  return validateEvent(raw);
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
  if (e.properties !== undefined) event.properties = JSON.stringify(e.properties);
  return event;
}
