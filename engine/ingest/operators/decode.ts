import { map, type OperatorFunction } from 'rxjs';
import type { IngestMsg } from '../types.js';
import { DecodeError, decodeEvent, DEFAULT_MAX_FUTURE_MS, formatTime, isTooFarAhead, type DeadLetterCode, type InteractionEvent } from '../../../core/index.js';

/** Why a message is dead-lettered: its stable code (the `Tierstream-Error` header) and words. */
export interface DeadLetterReason {
  code: DeadLetterCode;
  message: string;
}

export type Decoded =
  | { msg: IngestMsg; event: InteractionEvent; error?: undefined }
  | { msg: IngestMsg; event?: undefined; error: DeadLetterReason };

/**
 * Decodes and validates each message; a bad one carries its DecodeError instead of failing the
 * stream. An event more than `maxFutureMs` (default P1D) ahead of the time JetStream stored its
 * message is `time_in_future`: the stream's time, not the clock's, so a redelivery or a
 * replay days later decides as the first delivery did.
 */
export function decode(opts: { maxFutureMs?: number } = {}): OperatorFunction<IngestMsg, Decoded> {
  const maxFutureMs = opts.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  return map((msg): Decoded => {
    try {
      const event = decodeEvent(msg.data);
      const ingested = msg.info.timestampNanos / 1e6;
      if (isTooFarAhead(event.time, ingested, maxFutureMs)) {
        return { msg, error: { code: 'time_in_future', message: `time ${formatTime(event.time)} is more than ${maxFutureMs} ms ahead of the time the event was published (${formatTime(ingested)})` } };
      }
      return { msg, event };
    } catch (err) {
      if (err instanceof DecodeError) return { msg, error: err };
      return { msg, error: new DecodeError('invalid_json', String(err)) };
    }
  });
}
