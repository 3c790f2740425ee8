import { Observable } from 'rxjs';
import type { Consumer, JsMsg } from 'nats';
import type { InflightGate } from '../inflight-gate.js';

export interface FromConsumerOptions {
  /** Messages the client buffers ahead of the pipeline (the pull batch). */
  maxMessages: number;
  /** Bounds the messages emitted and not yet settled; the source waits while it is full. */
  gate: InflightGate;
  /** Aborting stops pulling and completes the Observable (a graceful drain). */
  signal?: AbortSignal;
}

/**
 * Messages of a JetStream pull consumer as an Observable, with backpressure: the next message
 * is taken from the client only when the gate has room, and the client pulls from the server
 * only as its buffer is taken, so memory stays flat however large the backlog.
 * Messages the client had buffered when the signal aborts are nak'ed, so that the next
 * consumer gets them at once rather than after the ack wait.
 */
export function fromConsumer(consumer: Consumer, opts: FromConsumerOptions): Observable<JsMsg> {
  return new Observable<JsMsg>((subscriber) => {
    let stopped = false;
    let messages: Awaited<ReturnType<Consumer['consume']>> | undefined;
    const stop = () => {
      stopped = true;
      opts.gate.interrupt();
      void messages?.close();
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    (async () => {
      messages = await consumer.consume({ max_messages: opts.maxMessages });
      if (stopped || opts.signal?.aborted) return stop();
      for await (const msg of messages) {
        if (!stopped && opts.gate.full) await opts.gate.wait();
        if (stopped) {
          msg.nak();
          continue;
        }
        opts.gate.acquire(1);
        subscriber.next(msg);
      }
    })().then(
      () => subscriber.complete(),
      (err) => subscriber.error(err),
    );
    return () => {
      opts.signal?.removeEventListener('abort', stop);
      stop();
    };
  });
}
