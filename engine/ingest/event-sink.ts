import type { NatsConnection } from 'nats';
import { StreamFullError, type EventSink } from '../../core/index.js';
import { natsNames } from '../../storage/nats/names.js';
import { JetStreamPublisher, PublishError, type PublisherOptions } from './publisher.js';

/**
 * The event sink's publishing: 4,096 events awaiting their acknowledgement at once (four full
 * batches; more wait their turn), and attempts of 3 s, 3 at most, so a lost acknowledgement or a
 * JetStream leader election is retried within the API's request deadline (10 s by default).
 */
export const EVENT_SINK_DEFAULTS: PublisherOptions = { window: 4_096, timeoutMs: 3_000, attempts: 3 };

/**
 * The API's EventSink (core/ingest.ts) on JetStream: each event on `<ns>.events.<type>` with
 * its message id as Nats-Msg-Id, resolved with JetStream's acknowledgement (stored, or a
 * duplicate it dropped within the stream's duplicate window). Published as the producer library
 * does (publisher.ts: one inbox subscription, no `js.publish` per event), so the acknowledgement
 * of an attempt that timed out is waited for again under the same message id. A stream at its
 * bound rejects with StreamFullError; an event not acknowledged after every attempt rejects
 * with the PublishError saying why (`timeout`, `unavailable`, `closed`, `failed`).
 */
export function createEventSink(nc: NatsConnection, namespace: string, options: Partial<PublisherOptions> = {}): EventSink & { close(): Promise<void> } {
  const prefix = natsNames(namespace).subjectPrefix;
  const publisher = new JetStreamPublisher(nc, { ...EVENT_SINK_DEFAULTS, ...options });
  return {
    async publish(type, data, msgId) {
      const [settled] = await publisher.publish([prefix + type], [data], [msgId]);
      if (!(settled instanceof PublishError)) return settled!;
      if (settled.code === 'stream_full') throw new StreamFullError(`the events stream is full: ${settled.message}`, { cause: settled });
      throw settled;
    },
    /** Waits for the publishes started, then leaves the inbox subscription (before the connection closes). */
    close: () => publisher.close(),
  };
}
