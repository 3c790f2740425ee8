import type { JetStreamClient } from 'nats';
import type { EventSink } from '../../core/index.js';
import { natsNames } from '../../storage/nats/names.js';

/**
 * The API's EventSink (core/ingest.ts) on JetStream: each event on `<ns>.events.<type>` with
 * its message id as Nats-Msg-Id, resolved with JetStream's acknowledgement (stored, or a
 * duplicate it dropped within the stream's duplicate window).
 */
export function createEventSink(js: JetStreamClient, namespace: string): EventSink {
  const prefix = natsNames(namespace).subjectPrefix;
  return {
    async publish(type, data, msgId) {
      const ack = await js.publish(`${prefix}${type}`, data, { msgID: msgId });
      return ack.duplicate ? 'duplicate' : 'stored';
    },
  };
}
