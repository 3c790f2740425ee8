import type { Channel, EventType } from '../types.js';
import { brazeSource, idOrUndefined, str, stripUndefined, type Mapped } from './mapped.js';

/**
 * Segment `track` calls as tierstream events: the table of docs/producing.md,
 * "Segment: `POST /v1/ingest/segment`". Event names are those of Segment's email spec (src/connections/spec/email.md),
 * its mobile spec's push events (spec/mobile.md) and of Braze's Segment export ("Segment for
 * Currents"); names are compared without case ("Email Marked as Spam" and "Email Marked As
 * Spam" are one).
 *
 * Fields: the event id is `segment:<messageId>` and `messageId` the message id (Segment
 * delivers at least once); `userId` (or `user_id`, as the spec's examples write it) is the user
 * (an `anonymousId` alone is refused: senders look users up by their own ids); time is
 * `timestamp` (ISO-8601); the source as for Braze Currents: a non-empty
 * `properties.canvas_id` makes a canvas event (`stepId` from `canvas_step_id`, `variantId` from
 * `canvas_variation_id`), else `properties.campaign_id` (or `properties.campaign.id`) a
 * campaign event (`variantId` from `message_variation_id`). As for Currents, a canvas event's
 * `canvas_variation_id` is also its `canvasVariationId`, a click's `properties.link_alias` its
 * `linkAlias` (each only when it is an id), and Braze's export "Email Soft Bounced" is
 * `soft_bounce` (Segment's own email spec has no soft bounce).
 */
export const SEGMENT_EVENTS: Readonly<Record<string, readonly [EventType, Channel | undefined]>> = {
  'email sent': ['send', 'email'],
  'email delivered': ['delivery', 'email'],
  'email opened': ['open', 'email'],
  'email link clicked': ['click', 'email'],
  'email bounced': ['bounce', 'email'],
  'email soft bounced': ['soft_bounce', 'email'],
  'email marked as spam': ['spam', 'email'],
  'unsubscribed': ['unsubscribe', 'email'],
  'email unsubscribed': ['unsubscribe', 'email'],
  'push notification sent': ['send', 'push'],
  'push notification received': ['delivery', 'push'],
  'push notification tapped': ['open', 'push'],
  'push notification bounced': ['bounce', 'push'],
  'sms sent': ['send', 'sms'],
  'sms delivered': ['delivery', 'sms'],
  'in-app message viewed': ['send', 'in_app'],
  'in-app message clicked': ['click', 'in_app'],
  'content card viewed': ['send', 'content_card'],
  'content card clicked': ['click', 'content_card'],
  'webhook sent': ['send', 'webhook'],
  'campaign converted': ['conversion', undefined],
  'canvas converted': ['conversion', undefined],
  'campaign control group entered': ['control', undefined],
  'canvas entered': ['control', undefined],
};

const KEPT = ['email_id', 'dispatch_id', 'send_id', 'link_id', 'link_alias', 'link_url', 'url', 'list_id', 'app_id', 'card_id', 'button_id'] as const;

/** One Segment call as a tierstream event in its wire form (to be validated), or why it is skipped. Never throws. */
export function mapSegmentCall(raw: unknown): Mapped {
  const c = (raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const id = str(c.messageId);
  const callType = str(c.type) ?? str(c.action);
  if (callType !== 'track') return { kind: 'skipped', id, name: `${callType ?? 'untyped'} call` };
  const name = str(c.event) ?? '';
  const entry = SEGMENT_EVENTS[name.toLowerCase()];
  const p = (c.properties !== null && typeof c.properties === 'object' && !Array.isArray(c.properties) ? c.properties : {}) as Record<string, unknown>;
  if (entry === undefined) return { kind: 'skipped', id, name: name || 'unnamed track' };
  let [type, channel] = entry;
  if (name.toLowerCase() === 'canvas entered' && !(p.in_control_group === true || p.in_control_group === 'true')) {
    return { kind: 'skipped', id, name: 'Canvas Entered (in_control_group false)' };
  }
  if (type === 'open' && channel === 'email' && (p.machine_open === true || p.machine_open === 'true')) type = 'machine_open';
  const nested = p.campaign !== null && typeof p.campaign === 'object' ? (p.campaign as Record<string, unknown>) : {};
  const source = brazeSource(p, str(p.campaign_id) ?? str(nested.id));
  if (source === undefined) return { kind: 'invalid', id, code: 'invalid_source', message: 'neither properties.canvas_id nor properties.campaign_id is set' };
  if (c.timestamp === undefined) return { kind: 'invalid', id, code: 'missing_field', message: 'missing field "timestamp"' };
  const properties: Record<string, unknown> = { segment_event: name };
  for (const k of KEPT) if (p[k] !== undefined && p[k] !== '') properties[k] = p[k];
  const wire: Record<string, unknown> = {
    id: id === undefined ? undefined : `segment:${id}`,
    type,
    userId: str(c.userId) ?? str(c.user_id),
    ...source,
    channel,
    linkAlias: type === 'click' ? idOrUndefined(str(p.link_alias)) : undefined,
    time: c.timestamp,
    properties,
  };
  return { kind: 'event', id, event: stripUndefined(wire), msgId: id === undefined ? undefined : `segment:${id}` };
}
