import { CHANNELS, EVENT_TYPES, type InteractionEvent } from './types.js';
import { parseTime } from './time.js';
import { ID_PATTERN, USER_ID_PATTERN } from './sources.js';
import type { LimitCode } from './limits.js';
import { TierstreamError } from './errors.js';

/** Largest message accepted, in bytes (16 KiB: docs/producing.md, "Event format"). */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * Deepest nesting of objects and arrays accepted in `properties`, which is itself level 1
 * (`{"a":[{}]}` is 3 levels). Deeper ones are `invalid_field`: without a limit a 14 KB message
 * nested 7,000 levels made JSON.stringify overflow the stack. Listed in docs/producing.md, "Event format".
 */
export const MAX_PROPERTIES_DEPTH = 32;

/** Why a message cannot be an event: stable codes of the `Tierstream-Error` header (docs/producing.md, "Event format"). */
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
 * Every code a dead letter carries: a decode code; `time_in_future` for an event more than
 * TIERSTREAM_MAX_FUTURE ahead of the time it was published (see isTooFarAhead); or
 * `write_failed` for a valid event that history refused alone, repeatedly, while ClickHouse
 * and Redis answered; or a limit's code (core/limits.ts) for a valid event past a named limit.
 */
export type DeadLetterCode = DecodeErrorCode | 'time_in_future' | 'write_failed' | LimitCode;

/** Default of TIERSTREAM_MAX_FUTURE (P1D), ms: how far ahead of its ingestion an event may be. */
export const DEFAULT_MAX_FUTURE_MS = 86_400_000;

/**
 * Whether an event at `timeMs` is further than `maxFutureMs` ahead of `ingestedMs`. Such an
 * event would stay its user's latest for ever (the fold keeps the maximum), so the user would
 * match every `within` window: it is dead-lettered (`time_in_future`) instead.
 */
export function isTooFarAhead(timeMs: number, ingestedMs: number, maxFutureMs: number): boolean {
  return timeMs > ingestedMs + maxFutureMs;
}

export class DecodeError extends TierstreamError<DecodeErrorCode> {
  constructor(code: DecodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

const ID = ID_PATTERN;

/**
 * The two field rules of the event format past the character sets: a link alias is a click's
 * (`invalid_field`: the field does not fit the type), a canvas variation a canvas's
 * (`invalid_source`, as `stepId`).
 */
export const LINK_ALIAS_RULE = 'linkAlias belongs to click events';
export const CANVAS_VARIATION_RULE = 'canvasVariationId belongs to canvas events';

/**
 * Strict UTF-8: an invalid byte, overlong form, encoded surrogate or truncated sequence throws
 * instead of becoming U+FFFD. Measured faster than Buffer#toString (and than isUtf8 + toString)
 * on 1 KB payloads. ignoreBOM keeps a leading BOM, which JSON.parse rejects, as before.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes and validates one message payload against the event format (docs/producing.md, "Event format").
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
  const event = check(raw, text);
  if (event === undefined) throw new DecodeError(failure.code, failure.message);
  return event;
}

/** Index of the first character at or after `i` that is not JSON white space. */
function skipSpace(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = s.charCodeAt(++i));
  return i;
}

/** Index just after the JSON string that opens at `i` (its `"`). */
function skipString(s: string, i: number): number {
  for (i++; ; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) return i + 1; // "
    if (c === 92) i++; // a backslash: the next character is escaped
  }
}

/** Index just after the JSON value that starts at `i`. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return skipString(s, i);
  if (c === 123 || c === 91) { // { or [: to the bracket that closes it, strings skipped whole
    let depth = 0;
    for (; ; i++) {
      const d = s.charCodeAt(i);
      if (d === 34) i = skipString(s, i) - 1;
      else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
    }
  }
  // A number, true, false or null: up to the next delimiter.
  for (let d = s.charCodeAt(i); d !== 44 && d !== 125 && d !== 93 && d !== 32 && d !== 10 && d !== 13 && d !== 9 && i < s.length; d = s.charCodeAt(++i));
  return i;
}

/**
 * The text of the top-level member `name` of `json`, exactly as written (the last member of
 * that name, as JSON.parse keeps the last; names compared after unescaping). `json` must be a
 * JSON object that JSON.parse accepted: the scan checks nothing. Undefined when absent.
 */
export function rawMember(json: string, name: string): string | undefined {
  let found: string | undefined;
  let i = skipSpace(json, skipSpace(json, 0) + 1); // past the opening {
  while (json.charCodeAt(i) === 34) {
    const keyEnd = skipString(json, i);
    const written = json.slice(i + 1, keyEnd - 1);
    const key = written.includes('\\') ? JSON.parse(json.slice(i, keyEnd)) as string : written;
    const start = skipSpace(json, skipSpace(json, keyEnd) + 1); // past the :
    const end = skipValue(json, start);
    if (key === name) found = json.slice(start, end);
    i = skipSpace(json, end);
    if (json.charCodeAt(i) === 44) i = skipSpace(json, i + 1); // ,
  }
  return found;
}

/**
 * True when `value` nests objects and arrays deeper than `levels` (`value` itself is the first).
 * Visits only objects and arrays, never more than `levels` + 1 deep: cheaper than the
 * JSON.stringify that follows it, and it stops cycles too.
 */
export function deeperThan(value: object, levels: number): boolean {
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

const ID_RE = new RegExp(ID_PATTERN);
const USER_ID_RE = new RegExp(USER_ID_PATTERN);
const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const CHANNEL_SET: ReadonlySet<string> = new Set(CHANNELS);

// ajv's messages, word for word (test/support/validate-reference.ts's `describe`), built only when thrown.
const mustBeString = (field: string) => `${field} must be string`;
const mustMatch = (field: string, pattern: string) => `${field} must match pattern "${pattern}"`;
const NOT_ALLOWED = 'must be equal to one of the allowed values';

/** The first required field absent, in ajv's order, or undefined. */
function missingField(o: Record<string, unknown>): string | undefined {
  // Property reads, as ajv's `required` does (not the keys seen): same answer on any object.
  return o.id === undefined ? 'id' : o.type === undefined ? 'type' : o.userId === undefined ? 'userId'
    : o.time === undefined ? 'time' : undefined;
}

/** An id field's invalid_field message, or undefined when `v` is a string of the character set. */
function idError(field: string, v: unknown, re: RegExp, pattern: string): string | undefined {
  if (typeof v !== 'string') return mustBeString(field);
  return re.test(v) ? undefined : mustMatch(field, pattern);
}

/** An enum field's invalid_field message, or undefined when `v` is one of `allowed`. */
function enumError(field: string, v: unknown, allowed: ReadonlySet<string>): string | undefined {
  if (typeof v !== 'string') return mustBeString(field);
  return allowed.has(v) ? undefined : `${field} ${NOT_ALLOWED}`;
}

/**
 * Validates an already parsed event. Throws DecodeError.
 *
 * Hand-written for the hot path (issue 13): one for-in over the object's keys collects the
 * event format's fields into locals, then each rule is checked in the order the JSON Schema
 * (test/support/validate-reference.ts, compiled by ajv) reports it, so the code and message are
 * the same for every input: not an object; a missing required field (id, type, userId, time);
 * the first unknown key in key order (`__proto__` and `constructor` included: only the twelve
 * names in `check` are fields); then each field's type, enum or id character set in schema
 * order (id, type, userId, campaignId, canvasId, stepId, variantId, channel, linkAlias,
 * canvasVariationId, time, properties);
 * then the source rules, the time, the depth of properties. Nothing is allocated per field: no
 * match arrays, no substrings (the ISO time is read by char codes), no error object until the
 * one thrown. A field that is `undefined` counts as absent, as in ajv. Equivalence holds for
 * objects whose fields are enumerable data properties (JSON.parse's output, object literals);
 * the property tests in test/unit/validate.test.ts compare the two.
 */
export function validateEvent(raw: unknown): InteractionEvent {
  const event = check(raw, undefined);
  if (event === undefined) throw new DecodeError(failure.code, failure.message);
  return event;
}

/**
 * Why `check` last returned undefined. `check` returns instead of throwing, like ajv's compiled
 * function: V8 never optimized a validator that threw on every call (a run of bad events was
 * 10-16% slower, bench/validate.ts), and an Error made in a helper, one frame deeper, costs more.
 */
const failure: { code: DecodeErrorCode; message: string } = { code: 'invalid_field', message: '' };
function fail(code: DecodeErrorCode, message: string): undefined {
  failure.code = code;
  failure.message = message;
  return undefined;
}

/**
 * The event, or undefined with the reason in `failure`. With `text`, the JSON that `raw` was
 * parsed from, `properties` is kept as written there (docs/producing.md, "Event format"), not
 * re-serialised: JSON.parse turns `1e309` into Infinity (then `null`) and rounds
 * `12345678901234567890123` to 17 digits.
 */
function check(raw: unknown, text: string | undefined): InteractionEvent | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('not_an_object', 'an event is a JSON object');
  const o = raw as Record<string, unknown>;
  let id: unknown, type: unknown, userId: unknown, campaignId: unknown, canvasId: unknown;
  let stepId: unknown, variantId: unknown, channel: unknown, time: unknown, properties: unknown;
  let linkAlias: unknown, canvasVariationId: unknown;
  for (const k in o) {
    switch (k) {
      case 'id': id = o[k]; break;
      case 'type': type = o[k]; break;
      case 'userId': userId = o[k]; break;
      case 'campaignId': campaignId = o[k]; break;
      case 'canvasId': canvasId = o[k]; break;
      case 'stepId': stepId = o[k]; break;
      case 'variantId': variantId = o[k]; break;
      case 'channel': channel = o[k]; break;
      case 'linkAlias': linkAlias = o[k]; break;
      case 'canvasVariationId': canvasVariationId = o[k]; break;
      case 'time': time = o[k]; break;
      case 'properties': properties = o[k]; break;
      default: {
        // A missing required field outranks an unknown one.
        const missing = missingField(o);
        return missing !== undefined ? fail('missing_field', `missing field "${missing}"`) : fail('unknown_field', `unknown field "${k}"`);
      }
    }
  }
  if (id === undefined || type === undefined || userId === undefined || time === undefined) {
    const missing = missingField(o);
    // None missing by property reads: a non-enumerable field, which JSON.parse never makes.
    return missing !== undefined ? fail('missing_field', `missing field "${missing}"`)
      : fail('invalid_field', 'event fields must be enumerable properties');
  }
  const bad =
    idError('id', id, ID_RE, ID_PATTERN)
    ?? enumError('type', type, TYPES)
    ?? idError('userId', userId, USER_ID_RE, USER_ID_PATTERN)
    ?? (campaignId === undefined ? undefined : idError('campaignId', campaignId, ID_RE, ID_PATTERN))
    ?? (canvasId === undefined ? undefined : idError('canvasId', canvasId, ID_RE, ID_PATTERN))
    ?? (stepId === undefined ? undefined : idError('stepId', stepId, ID_RE, ID_PATTERN))
    ?? (variantId === undefined ? undefined : idError('variantId', variantId, ID_RE, ID_PATTERN))
    ?? (channel === undefined ? undefined : enumError('channel', channel, CHANNEL_SET))
    ?? (linkAlias === undefined ? undefined : idError('linkAlias', linkAlias, ID_RE, ID_PATTERN))
    ?? (canvasVariationId === undefined ? undefined : idError('canvasVariationId', canvasVariationId, ID_RE, ID_PATTERN));
  if (bad !== undefined) return fail('invalid_field', bad);
  // JSON Schema's integer: a number with no fraction (so finite).
  if (typeof time !== 'string' && !Number.isInteger(time)) return fail('invalid_field', 'time must be string,integer');
  if (properties !== undefined && (properties === null || typeof properties !== 'object' || Array.isArray(properties))) {
    return fail('invalid_field', 'properties must be object');
  }
  if ((campaignId === undefined) === (canvasId === undefined)) {
    return fail('invalid_source', 'exactly one of campaignId and canvasId is required');
  }
  if (stepId !== undefined && canvasId === undefined) return fail('invalid_source', 'stepId belongs to canvas events');
  if (canvasVariationId !== undefined && canvasId === undefined) return fail('invalid_source', CANVAS_VARIATION_RULE);
  if (linkAlias !== undefined && type !== 'click') return fail('invalid_field', LINK_ALIAS_RULE);
  const ms = parseTime(time);
  if (ms === undefined) {
    return fail('invalid_time', 'time is neither ISO-8601 with an offset nor epoch milliseconds in [1970, 2100)');
  }
  let serialised: string | undefined;
  if (properties !== undefined) {
    if (deeperThan(properties, MAX_PROPERTIES_DEPTH)) {
      return fail('invalid_field', `properties nested more than ${MAX_PROPERTIES_DEPTH} levels deep (objects and arrays)`);
    }
    if (text !== undefined) {
      serialised = rawMember(text, 'properties');
    } else {
      try {
        serialised = JSON.stringify(properties);
      } catch (err) {
        // An object given to validateEvent (not parsed from text) may hold a BigInt.
        return fail('invalid_field', `properties cannot be serialised as JSON: ${(err as Error).message}`);
      }
    }
  }
  // Built in the same key order as before: the same object for every consumer.
  const event: InteractionEvent = {
    id: id as string,
    type: type as InteractionEvent['type'],
    userId: userId as string,
    source: campaignId !== undefined ? { kind: 'campaign', id: campaignId as string } : { kind: 'canvas', id: canvasId as string },
    time: ms,
  };
  if (variantId !== undefined) event.variantId = variantId as string;
  if (stepId !== undefined) event.stepId = stepId as string;
  if (channel !== undefined) event.channel = channel as InteractionEvent['channel'];
  if (linkAlias !== undefined) event.linkAlias = linkAlias as string;
  if (canvasVariationId !== undefined) event.canvasVariationId = canvasVariationId as string;
  if (properties !== undefined) event.properties = serialised!;
  return event;
}
