/**
 * Tier notifications (docs/operating.md, "Tier notifications"): every transition a source's record
 * keeps in `transitions` becomes one notice, in that order. The record remembers the last
 * transition whose notice is in the stream (`notified`), so a process that dies between a
 * transition and its notice leaves the notice to whoever sees the record next; a notice
 * published twice (two processes, or a crash after the publish) has the same message id, and
 * the stream drops the copy.
 */
import { createHmac } from 'node:crypto';
import { sourceName } from '../sources.js';
import { TierstreamError } from '../errors.js';
import type { SourceRecord, Tier } from '../types.js';

export interface TierNotice {
  source: string;
  tier: Tier;
  previous: Tier | null;
  /** ISO-8601, as the API renders transition times. */
  at: string;
  reason: string;
}

/** The last transition published: its time and tier (a source never makes two alike in one ms). */
export interface NoticeMark {
  at: number;
  tier: Tier;
}

export interface PendingNotice {
  notice: TierNotice;
  /** The notice's JetStream message id: the same for every process that publishes it. */
  msgId: string;
  /** Marks this notice published. */
  mark: NoticeMark;
}

/** Index in `transitions` of the marked one; -1 if none is marked (or it aged out of the list). */
function markedIndex(rec: Pick<SourceRecord, 'transitions'>, mark: NoticeMark | null | undefined): number {
  if (!mark) return -1;
  for (let i = rec.transitions.length - 1; i >= 0; i--) {
    const t = rec.transitions[i]!;
    if (t.at === mark.at && t.tier === mark.tier) return i;
  }
  return -1;
}

/** The notices of `rec` not yet published, oldest first. */
export function pendingNotices(rec: SourceRecord): PendingNotice[] {
  const name = sourceName(rec);
  const from = markedIndex(rec, rec.notified) + 1;
  const out: PendingNotice[] = [];
  for (let i = from; i < rec.transitions.length; i++) {
    const t = rec.transitions[i]!;
    out.push({
      // `previous` of the oldest kept entry is unknown once more than 100 were made: null.
      notice: { source: name, tier: t.tier, previous: i > 0 ? rec.transitions[i - 1]!.tier : null, at: new Date(t.at).toISOString(), reason: t.reason },
      msgId: `${name}@${t.at}:${t.tier}`,
      mark: { at: t.at, tier: t.tier },
    });
  }
  return out;
}

/** `rec` with `mark` recorded, or undefined if it records that notice or a later one already. */
export function withNoticeMark(rec: SourceRecord | null, mark: NoticeMark): SourceRecord | undefined {
  if (!rec) return undefined;
  const at = markedIndex(rec, mark);
  if (at < 0 || markedIndex(rec, rec.notified) >= at) return undefined;
  return { ...rec, notified: mark };
}

/** The `Tierstream-Signature` header of a webhook body: HMAC-SHA256 of the exact bytes, hex. */
export function webhookSignature(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A notice that can never be published (its subject is no valid NATS subject: a source id with
 * an empty token, recorded before such ids were refused). Thrown by a notice channel; the
 * notifier gives the notice up instead of retrying it for ever.
 */
export class UnpublishableNoticeError extends TierstreamError<'invalid_subject'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_subject', message, options);
  }
}

/** One empty list shared by every mirrored record that has none (a million records, one array). */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/**
 * The record as a registry's mirror keeps it (docs/design.md, "Sources at scale"): every field but the
 * audit trail, cut to the notices still to publish (with the last one published before them, for
 * their `previous`), so `pendingNotices` answers of it as of the whole record; usually nothing.
 * Empty lists are one shared frozen array. A few hundred bytes a source instead of kilobytes
 * (bench/README.md, "sources").
 */
export function mirrorRecord(rec: SourceRecord): SourceRecord {
  const from = markedIndex(rec, rec.notified);
  const pending = from < rec.transitions.length - 1;
  // A spread, not a list of fields: a field the record gains is kept without a change here.
  return {
    ...rec,
    tags: rec.tags.length ? rec.tags : NONE,
    pinnedBy: rec.pinnedBy.length ? rec.pinnedBy : NONE,
    transitions: pending ? rec.transitions.slice(Math.max(0, from)) : NONE,
    notified: pending ? rec.notified ?? null : null,
  };
}
