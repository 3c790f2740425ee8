import type { NatsConnection } from 'nats';
import { natsNames } from './names.js';

/**
 * Whether the holder of the ingest lease (engine/ingest/ack-lease.ts) still runs: each holder
 * answers on a core NATS subject of its own, and "no responders" means its connection is gone
 * (a killed process), so a successor takes the lease at once instead of after it lapses.
 */
export function natsLeaseProbe(nc: NatsConnection, namespace: string) {
  const names = natsNames(namespace);
  return {
    /** Answers probes of `id` until the returned function is called. */
    serve(id: string): () => void {
      const sub = nc.subscribe(names.holderSubject(id), { callback: (_err, m) => m.respond() });
      return () => sub.unsubscribe();
    },
    /** False only when nobody answers for `id`; a timeout or another failure counts as alive. */
    async alive(id: string): Promise<boolean> {
      try {
        await nc.request(names.holderSubject(id), undefined, { timeout: 1_000 });
        return true;
      } catch (err) {
        return (err as { code?: string }).code !== '503'; // nats.js ErrorCode.NoResponders
      }
    },
  };
}
