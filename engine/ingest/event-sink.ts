import type { JetStreamClient } from 'nats';
import { StreamFullError, type EventSink } from '../../core/index.js';
import { natsNames } from '../../storage/nats/names.js';
import { isStreamFullError } from './jetstream.js';

/**
 * The API's EventSink (core/ingest.ts) on JetStream: each event on `<ns>.events.<type>` with
 * its message id as Nats-Msg-Id, resolved with JetStream's acknowledgement (stored, or a
 * duplicate it dropped within the stream's duplicate window). A stream at its max_bytes
 * rejects with StreamFullError.
 */
export function createEventSink(js: JetStreamClient, namespace: string): EventSink {
  const prefix = natsNames(namespace).subjectPrefix;
  return {
    async publish(type, data, msgId) {
      try {
        const ack = await js.publish(`${prefix}${type}`, data, { msgID: msgId });
        return ack.duplicate ? 'duplicate' : 'stored';
      } catch (err) {
        if (isStreamFullError(err)) throw new StreamFullError(`the events stream is full: ${(err as Error).message}`, { cause: err });
        throw err;
      }
    },
  };
}
