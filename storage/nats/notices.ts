import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from 'nats';
import { UnpublishableNoticeError } from '../../core/index.js';
import { noticeNames } from './names.js';
import { isJsAlreadyExists } from './errors.js';

const nanos = (ms: number) => ms * 1_000_000;
/** Notices are kept this long, so subscribers can catch up (docs/operating.md, "Tier notifications": 7 days). */
const KEEP_MS = 7 * 24 * 3_600_000;
/** Copies of a notice (same message id) within this window are dropped by the server. */
const DEDUP_MS = 15 * 60_000;

/** A subject to publish on: dot-separated tokens, none empty, none a wildcard or holding white space. */
function isSubject(subject: string): boolean {
  return subject.split('.').every((t) => t !== '' && t !== '*' && t !== '>' && !/\s/.test(t));
}

/**
 * Tier notifications on JetStream: the `<NS>_TIERS` stream they are published into, and the
 * durable consumer that delivers them to the webhook, one at a time in stream order, so a
 * delivery waiting for its receiver survives restarts and never delays a transition.
 */
export class NatsNoticeChannel {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: ReturnType<typeof noticeNames>,
  ) {}

  static async open(js: JetStreamClient, jsm: JetStreamManager, namespace: string, replicas = 1): Promise<NatsNoticeChannel> {
    const names = noticeNames(namespace);
    const cfg = { name: names.stream, subjects: [names.subjects], storage: StorageType.File, retention: RetentionPolicy.Limits, max_age: nanos(KEEP_MS), duplicate_window: nanos(DEDUP_MS), num_replicas: replicas };
    try {
      await jsm.streams.info(names.stream);
    } catch {
      await jsm.streams.add(cfg).catch((err: unknown) => {
        if (!isJsAlreadyExists(err)) throw err;
      });
    }
    return new NatsNoticeChannel(js, jsm, names);
  }

  /**
   * Publishes one notice; resolves once the stream has it (or had it: a duplicate). Throws
   * UnpublishableNoticeError when the subject is not a valid one: the server answers such a
   * publish as it answers one while the stream is away (503), so it is told apart here.
   */
  async publish(kind: string, id: string, body: string, msgId: string): Promise<void> {
    const subject = this.names.subject(kind, id);
    if (!isSubject(subject)) throw new UnpublishableNoticeError(`"${subject}" is not a NATS subject (an empty token, a wildcard or white space)`);
    await this.js.publish(subject, body, { msgID: msgId });
  }

  /**
   * Hands every notice, in stream order, to `deliver` until `signal` aborts; one that
   * `deliver` refuses (false or a throw) comes back after `retryDelayMs(attempt)`, and
   * nothing after it is handed out meanwhile (one unacknowledged message at a time).
   */
  async consume(deliver: (body: Uint8Array) => Promise<boolean>, opts: { signal: AbortSignal; retryDelayMs: (attempt: number) => number; ackWaitMs: number }): Promise<void> {
    const { stream, webhookConsumer } = this.names;
    try {
      await this.jsm.consumers.info(stream, webhookConsumer);
    } catch {
      await this.jsm.consumers.add(stream, {
        durable_name: webhookConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1,
        ack_wait: nanos(opts.ackWaitMs),
      }).catch((err: unknown) => {
        if (!isJsAlreadyExists(err)) throw err;
      });
    }
    const consumer = await this.js.consumers.get(stream, webhookConsumer);
    const messages = await consumer.consume({ max_messages: 1 });
    opts.signal.addEventListener('abort', () => void messages.close(), { once: true });
    for await (const m of messages) {
      let ok = false;
      try {
        ok = await deliver(m.data);
      } catch {
        ok = false;
      }
      if (ok) m.ack();
      else m.nak(opts.retryDelayMs(m.info.deliveryCount));
    }
  }
}
