/**
 * The consumer-ownership protocol: which acknowledgement a process uses, and the ingest lease
 * (ack-lease.ts) that allows it. A cumulative consumer is consumed by one process, holding the
 * lease exclusive; an explicit one by any number, holding it shared.
 */
import type { Logger } from 'pino';
import type { AckLease } from './ack-lease.js';
import type { AckMode } from './acks.js';
import type { IngestBroker } from './types.js';

export interface OwnershipDeps {
  broker: IngestBroker;
  lease: AckLease;
  /** The acknowledgement this process is configured for (EngineOptions.ackMode). */
  wanted: AckMode;
  /** Aborting gives up waiting for the lease. */
  signal: AbortSignal;
  log: Logger;
}

/**
 * Decides how this process acknowledges and holds the lease that allows it: the consumer's
 * policy rules; it is switched to the wanted one only while no other process holds the lease.
 */
export async function takeConsumer({ broker, lease, wanted, signal, log }: OwnershipDeps): Promise<AckMode> {
  let warned = false;
  for (;;) {
    let policy = await broker.ackMode();
    if (policy !== wanted && (await lease.tryAcquire('exclusive'))) {
      const { fromSeq } = await broker.replaceConsumer(wanted);
      log.warn({ from: policy, to: wanted, fromSeq }, 'consumer ack policy switched; messages from its ack floor on are delivered again');
      policy = wanted;
    }
    const needed = policy === 'cumulative' ? 'exclusive' : 'shared';
    if (lease.held !== needed) {
      await lease.acquire(needed, {
        signal,
        waiting: (holders) => {
          if (!warned) log.warn({ holders, needed }, 'waiting for the ingest lease (another process consumes the namespace)');
          warned = true;
        },
      });
    }
    // The policy cannot change while we hold the lease: only an exclusive holder switches it.
    if ((await broker.ackMode()) === policy) {
      if (policy !== wanted) log.warn({ wanted }, 'other ingest processes share the consumer; acknowledging each message as they do');
      // Messages a previous holder took and never acknowledged would be covered by our
      // first cumulative ack before the server redelivers them: start from the ack floor.
      const left = policy === 'cumulative' ? await broker.unacknowledged() : 0;
      if (left > 0) {
        const { fromSeq } = await broker.replaceConsumer('cumulative', true);
        log.warn({ unacknowledged: left, fromSeq }, 'the previous ingest process left messages unacknowledged; consuming again from the ack floor');
      }
      return policy;
    }
    await lease.release();
  }
}
