import type { IngestErrorCode } from '../ingest.js';
import { isId } from '../sources.js';

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

/** A foreign field as a string: a non-empty string, else undefined. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `v` when it is an id (core/sources.ts), else undefined: an optional field is left out rather than refuse the event. */
export const idOrUndefined = (v: string | undefined): string | undefined => (v !== undefined && isId(v) ? v : undefined);

/** `o` without its undefined fields (the wire form of an event has no field set to undefined). */
export function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * The source fields of an event that carries Braze's ids (Currents, and Braze's export to
 * Segment): a non-empty `canvas_id` makes a canvas event (`stepId` from `canvas_step_id`,
 * `variantId` and `canvasVariationId` from `canvas_variation_id`), else `campaignId` (as the
 * mapping reads it) a campaign event (`variantId` from `message_variation_id`); neither:
 * undefined.
 */
export function brazeSource(p: Record<string, unknown>, campaignId: string | undefined): Record<string, unknown> | undefined {
  const canvasId = str(p.canvas_id);
  if (canvasId !== undefined) {
    const variation = str(p.canvas_variation_id);
    return { canvasId, stepId: str(p.canvas_step_id), variantId: variation, canvasVariationId: idOrUndefined(variation) };
  }
  return campaignId === undefined ? undefined : { campaignId, variantId: str(p.message_variation_id) };
}
