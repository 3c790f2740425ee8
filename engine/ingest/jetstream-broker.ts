import { AckPolicy, headers as natsHeaders, type JetStreamClient, type JetStreamManager } from 'nats';
import { natsNames } from '../../storage/nats/names.js';
import { consumerAckPolicy, ensureStreams, isTransientNatsError, replaceConsumer, trimIngested, unacknowledged, type StreamSetupOptions } from './jetstream.js';
import type { AckMode } from './acks.js';
import type { BrokerSetup, IngestBroker } from './types.js';

const policyOf = (mode: AckMode) => (mode === 'cumulative' ? AckPolicy.All : AckPolicy.Explicit);
const modeOf = (policy: AckPolicy): AckMode => (policy === AckPolicy.All ? 'cumulative' : 'explicit');

/** The ingest engine's broker on JetStream: the namespace's events stream, its durable consumer and dead-letter stream. */
export function createJetStreamBroker(deps: { js: JetStreamClient; jsm: JetStreamManager; namespace: string }): IngestBroker {
  const { js, jsm, namespace } = deps;
  const names = natsNames(namespace);
  let setup: StreamSetupOptions | undefined;
  return {
    async setUp(s: BrokerSetup) {
      const { ackMode, ...rest } = s;
      setup = { namespace, ...rest, ackPolicy: policyOf(ackMode) };
      await ensureStreams(jsm, setup);
    },
    ackMode: async () => modeOf(await consumerAckPolicy(jsm, namespace)),
    async replaceConsumer(mode, force = false) {
      if (!setup) throw new Error('replaceConsumer before setUp');
      return replaceConsumer(jsm, setup, policyOf(mode), force);
    },
    unacknowledged: () => unacknowledged(jsm, namespace),
    async consume({ maxMessages, callback }) {
      const consumer = await js.consumers.get(names.stream, names.consumer);
      return consumer.consume({ max_messages: maxMessages, callback });
    },
    async backlog() {
      const [info, stream] = await Promise.all([jsm.consumers.info(names.stream, names.consumer), jsm.streams.info(names.stream)]);
      return {
        pending: info.num_pending, ackPending: info.num_ack_pending,
        bytes: stream.state.bytes, maxBytes: stream.config.max_bytes,
        stored: stream.state.messages, maxMessages: stream.config.max_msgs,
      };
    },
    trimIngested: () => trimIngested(jsm, namespace),
    async deadLetter(d) {
      const h = natsHeaders();
      h.set('Tierstream-Error', d.code);
      h.set('Tierstream-Subject', d.subject);
      // Header values are single lines; the detail is for humans, the code is the contract.
      h.set('Tierstream-Message', d.message.replace(/[\r\n]+/g, ' ').slice(0, 512));
      // Redeliveries of the same message dead-letter once (the DLQ stream dedups by this id).
      await js.publish(names.dlqSubject, d.data, { headers: h, msgID: `${names.stream}:${d.seq}` });
    },
    isTransient: isTransientNatsError,
  };
}
