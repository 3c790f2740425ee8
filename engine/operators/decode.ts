import { map, type OperatorFunction } from 'rxjs';
import type { JsMsg } from 'nats';
import { DecodeError, decodeEvent, type DeadLetterCode, type InteractionEvent } from '../../core/index.js';

/** Why a message is dead-lettered: its stable code (the `Tierstream-Error` header) and words. */
export interface DeadLetterReason {
  code: DeadLetterCode;
  message: string;
}

export type Decoded =
  | { msg: JsMsg; event: InteractionEvent; error?: undefined }
  | { msg: JsMsg; event?: undefined; error: DeadLetterReason };

/** Decodes and validates each message; a bad one carries its DecodeError instead of failing the stream. */
export function decode(): OperatorFunction<JsMsg, Decoded> {
  return map((msg) => {
    try {
      return { msg, event: decodeEvent(msg.data) };
    } catch (err) {
      if (err instanceof DecodeError) return { msg, error: err };
      return { msg, error: new DecodeError('invalid_json', String(err)) };
    }
  });
}
