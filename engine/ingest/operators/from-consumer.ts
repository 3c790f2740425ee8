import { Observable } from 'rxjs';
import type { InflightCounter } from '../inflight-counter.js';
import type { BrokerSubscription, IngestBroker, IngestMsg } from '../types.js';

export interface FromConsumerOptions {
  /** Messages the client asks the server for per pull. */
  maxMessages: number;
  /** Counts messages emitted and not yet settled (the consumer's max_ack_pending bounds it). */
  counter: InflightCounter;
  /** Aborting stops pulling and completes the Observable (a graceful drain). */
  signal?: AbortSignal;
}

/**
 * Messages of the broker's durable consumer as an Observable.
 *
 * Backpressure is the server's: the durable consumer's `max_ack_pending` stops deliveries
 * while that many messages are unsettled, so memory stays flat however large the backlog.
 * Messages arrive through a callback rather than an async iterator: on JetStream the iterator
 * costs a promise per message, and an await between messages makes nats.js flush its socket
 * once per ack instead of once per batch of acks (measured: bench/HISTORY.md, "ingest: one
 * engine in the benchmark's process, explicit acks (until commit 0d59245)").
 * Messages that arrive after the signal aborted are nak'ed, so the next consumer gets them
 * at once rather than after the ack wait.
 */
export function fromConsumer(broker: Pick<IngestBroker, 'consume'>, opts: FromConsumerOptions): Observable<IngestMsg> {
  return new Observable<IngestMsg>((subscriber) => {
    let stopped = false;
    let messages: BrokerSubscription | undefined;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      void messages?.close().finally(() => subscriber.complete());
      if (!messages) subscriber.complete();
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    broker
      .consume({
        maxMessages: opts.maxMessages,
        callback: (msg) => {
          if (stopped) {
            msg.nak();
            return;
          }
          opts.counter.acquire(1);
          subscriber.next(msg);
        },
      })
      .then((m) => {
        messages = m;
        if (stopped || opts.signal?.aborted) {
          stopped = false;
          stop();
          return;
        }
        // The client ends the subscription itself only on unrecoverable errors.
        void m.closed().then((err) => {
          if (err) subscriber.error(err);
          else subscriber.complete();
        });
      }, (err) => subscriber.error(err));
    return () => {
      opts.signal?.removeEventListener('abort', stop);
      stopped = true;
      void messages?.close();
    };
  });
}
