import type { IngestErrorCode } from '../ingest.js';

/**
 * What a mapping makes of one foreign event (Braze Currents, Segment): a tierstream event in
 * its wire form, to be validated like any other (core/ingest.ts, checkEvent); an event with
 * no tierstream meaning, counted and skipped under its foreign name; or one that cannot be
 * mapped (a source missing, a time not in the foreign format), with the validator's code.
 * `id` is the foreign event's id, when it has one, to name it in the answer.
 */
export type Mapped =
  | { kind: 'event'; id: string | undefined; event: Record<string, unknown>; msgId: string | undefined }
  | { kind: 'skipped'; id: string | undefined; name: string }
  | { kind: 'invalid'; id: string | undefined; code: IngestErrorCode; message: string };
