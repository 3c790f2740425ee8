import { StorageType, type JetStreamClient, type KV } from 'nats';
import type { SourceRecord, SourceRef, SourceRegistry } from '../../engine/types.js';

/** KV keys allow `[-/_=.A-Za-z0-9]`; source ids may hold `:`, so the id is base64url-encoded. */
export function registryKey(source: SourceRef): string {
  return `${source.kind}.${Buffer.from(source.id, 'utf8').toString('base64url')}`;
}

export function newSourceRecord(source: SourceRef, now: number): SourceRecord {
  return {
    kind: source.kind,
    id: source.id,
    status: 'active',
    tier: 'hot',
    name: null,
    tags: [],
    stoppedAt: null,
    expiresAt: null,
    pinnedBy: [],
    restore: null,
    transitions: [{ tier: 'hot', at: now, reason: 'created by first event' }],
    createdAt: now,
  };
}

const WRONG_LAST_SEQUENCE = 10071;

/**
 * The source registry in a NATS JetStream KV bucket `<ns>_sources`: durable (file storage),
 * shared by every engine process, with compare-and-set on revisions so that concurrent writers
 * never overwrite each other.
 */
export class NatsKvRegistry implements SourceRegistry {
  private readonly known = new Set<string>();

  private constructor(private readonly kv: KV, private readonly now: () => number) {}

  static async open(js: JetStreamClient, namespace: string, now: () => number = Date.now): Promise<NatsKvRegistry> {
    const kv = await js.views.kv(`${namespace}_sources`, { history: 1, storage: StorageType.File });
    return new NatsKvRegistry(kv, now);
  }

  async ensure(sources: readonly SourceRef[]): Promise<void> {
    await Promise.all(
      sources.map(async (source) => {
        const key = registryKey(source);
        if (this.known.has(key)) return;
        try {
          await this.kv.create(key, JSON.stringify(newSourceRecord(source, this.now())));
        } catch (err) {
          // Another batch or process created it first: that is the point of create().
          if ((err as { api_error?: { err_code?: number } }).api_error?.err_code !== WRONG_LAST_SEQUENCE) throw err;
        }
        this.known.add(key);
      }),
    );
  }

  async get(source: SourceRef): Promise<SourceRecord | null> {
    const entry = await this.kv.get(registryKey(source));
    if (!entry || entry.operation !== 'PUT') return null;
    return entry.json<SourceRecord>();
  }

  /** Deletes the bucket (tests and benchmarks only). */
  destroy(): Promise<boolean> {
    return this.kv.destroy();
  }
}
