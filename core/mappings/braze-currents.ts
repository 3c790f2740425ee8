import type { Channel, EventType } from '../types.js';
import { brazeSource, idOrUndefined, str, stripUndefined, type Mapped } from './mapped.js';

/**
 * Braze Currents (Custom HTTP connector) events as tierstream events: the table of docs/producing.md,
 * "Braze Currents: `POST /v1/ingest/braze-currents`". Field names are those of Braze's Currents event
 * glossary and of the public samples (Appboy/currents-examples, sample-data/Custom HTTP).
 *
 * Fixed points (docs/CONTRACT, "Ingestion over HTTP"): `userId` is `user.external_user_id`
 * when present, else `user.user_id`; a non-empty `canvas_id` makes a canvas event (`stepId`
 * from `canvas_step_id`, `variantId` from `canvas_variation_id`), else `campaign_id` a
 * campaign event (`variantId` from `message_variation_id`); time is `time` (whole seconds)
 * x 1000; an email open with `machine_open` = "true" is `machine_open`; in-app message and
 * content card impressions are `send` (Braze's "received"); `users.campaigns.EnrollInControl`
 * and `users.canvas.Entry` with `in_control_group: true` are `control`. The event id is
 * `braze:<id>`, and Braze's `id` the message id: a batch Braze delivers again stores nothing twice.
 *
 * Also: `users.messages.email.SoftBounce` is `soft_bounce`; a click's `link_alias` is its
 * `linkAlias`; a canvas event's `canvas_variation_id` is its `canvasVariationId` as well as its
 * `variantId` (the fixed point above), so a canvas leaf's `variant` tests the variation. Either
 * is filled only when it is an id (core/sources.ts): a value of another shape stays in
 * `properties` (`link_alias` is kept there always) instead of refusing the event.
 */

/** Braze's channel segment of `users.messages.<channel>.<Action>` -> tierstream's channel. */
export const BRAZE_CHANNELS: Readonly<Record<string, Channel>> = {
  email: 'email',
  pushnotification: 'push',
  sms: 'sms',
  webhook: 'webhook',
  inappmessage: 'in_app',
  contentcard: 'content_card',
  whatsapp: 'whatsapp',
};

/**
 * Event type -> tierstream type. `users.messages.email.Open` is `open`, or `machine_open` when
 * its `machine_open` is "true"; `users.canvas.Entry` is `control` only with `in_control_group`
 * true (else skipped). Every type not listed is counted and skipped (BRAZE_SKIPPED says why for
 * the message types Braze documents).
 */
export const BRAZE_TYPES: Readonly<Record<string, EventType>> = {
  'users.messages.email.Send': 'send',
  'users.messages.email.Delivery': 'delivery',
  'users.messages.email.Open': 'open',
  'users.messages.email.Click': 'click',
  'users.messages.email.Bounce': 'bounce',
  'users.messages.email.SoftBounce': 'soft_bounce',
  'users.messages.email.MarkAsSpam': 'spam',
  'users.messages.email.Unsubscribe': 'unsubscribe',
  'users.messages.pushnotification.Send': 'send',
  'users.messages.pushnotification.Open': 'open',
  'users.messages.pushnotification.Bounce': 'bounce',
  'users.messages.sms.Send': 'send',
  'users.messages.sms.Delivery': 'delivery',
  'users.messages.sms.ShortLinkClick': 'click',
  'users.messages.webhook.Send': 'send',
  'users.messages.inappmessage.Impression': 'send',
  'users.messages.inappmessage.Click': 'click',
  'users.messages.contentcard.Impression': 'send',
  'users.messages.contentcard.Click': 'click',
  'users.messages.whatsapp.Send': 'send',
  'users.messages.whatsapp.Delivery': 'delivery',
  'users.messages.whatsapp.Read': 'open',
  'users.messages.whatsapp.Click': 'click',
  'users.campaigns.Conversion': 'conversion',
  'users.campaigns.EnrollInControl': 'control',
  'users.canvas.Conversion': 'conversion',
  'users.canvas.Entry': 'control',
};

/**
 * Why some message-engagement types are skipped (the table of docs/producing.md, "Braze Currents:
 * `POST /v1/ingest/braze-currents`", lists these).
 */
export const BRAZE_SKIPPED: Readonly<Record<string, string>> = {
  'users.messages.email.Deferral': 'a delay, not an outcome',
  'users.messages.email.Abort': 'nothing was sent',
  'users.messages.email.Retry': 'a delay, not an outcome',
  'users.messages.pushnotification.IosForeground': 'shown while the app was open: neither a delivery nor an open in Braze\'s counts',
  'users.messages.pushnotification.Abort': 'nothing was sent',
  'users.messages.pushnotification.Retry': 'a delay, not an outcome',
  'users.messages.sms.CarrierSend': 'handed to the carrier: the Send is the send',
  'users.messages.sms.Rejection': 'no type for a carrier refusal (`bounce` is an email or push hard bounce)',
  'users.messages.sms.DeliveryFailure': 'no type for a failed SMS delivery',
  'users.messages.sms.InboundReceive': 'a message from the user, not an engagement with ours',
  'users.messages.sms.Abort': 'nothing was sent',
  'users.messages.sms.Retry': 'a delay, not an outcome',
  'users.messages.webhook.Failure': 'no type for a failed webhook',
  'users.messages.webhook.Abort': 'nothing was sent',
  'users.messages.webhook.Retry': 'a delay, not an outcome',
  'users.messages.inappmessage.Abort': 'nothing was shown',
  'users.messages.contentcard.Send': 'the impression is Braze\'s "received" (`send`)',
  'users.messages.contentcard.Dismiss': 'no dismissal type',
  'users.messages.contentcard.Abort': 'nothing was sent',
  'users.messages.whatsapp.Failure': 'no type for a failed WhatsApp delivery',
  'users.messages.whatsapp.Abort': 'nothing was sent',
  'users.messages.whatsapp.InboundReceive': 'a message from the user, not an engagement with ours',
  'users.messages.whatsapp.Retry': 'a delay, not an outcome',
  'users.campaigns.UniqueReceipt': 'a receipt counted by Braze, repeated by the channel\'s own Send',
  'users.canvas.Entry (in_control_group false)': 'entering a canvas is not an engagement; its messages carry the canvas',
};

/** Braze's properties copied into the event's `properties` (history only) when present. */
const KEPT = ['dispatch_id', 'send_id', 'link_alias', 'link_id', 'url', 'platform', 'app_id', 'card_id', 'content_card_id'] as const;


/**
 * One Currents event as a tierstream event in its wire form (docs/producing.md, "Event format"), still
 * to be validated (checkEvent), or why it is skipped. Never throws; a value that is not a
 * Currents event yields an event the validator refuses (missing or invalid fields).
 */
export function mapBrazeCurrentsEvent(raw: unknown): Mapped {
  const e = (raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const eventType = typeof e.event_type === 'string' ? e.event_type : '';
  const p = (e.properties !== null && typeof e.properties === 'object' && !Array.isArray(e.properties) ? e.properties : {}) as Record<string, unknown>;
  const user = (e.user !== null && typeof e.user === 'object' ? e.user : {}) as Record<string, unknown>;
  const id = typeof e.id === 'string' ? e.id : undefined;
  if (eventType === '') return { kind: 'invalid', id, code: 'missing_field', message: 'missing field "event_type"' };
  let type = BRAZE_TYPES[eventType];
  if (eventType === 'users.canvas.Entry' && !(p.in_control_group === true || p.in_control_group === 'true')) {
    return { kind: 'skipped', id, name: 'users.canvas.Entry (in_control_group false)' };
  }
  if (type === undefined) return { kind: 'skipped', id, name: eventType };
  if (type === 'open' && eventType === 'users.messages.email.Open' && p.machine_open === 'true') type = 'machine_open';
  const channel = BRAZE_CHANNELS[/^users\.messages\.([^.]+)\./.exec(eventType)?.[1] ?? ''];
  const source = brazeSource(p, str(p.campaign_id));
  if (source === undefined) return { kind: 'invalid', id, code: 'invalid_source', message: 'neither canvas_id nor campaign_id is set' };
  const properties: Record<string, unknown> = { braze_event_type: eventType };
  for (const k of KEPT) if (p[k] !== undefined && p[k] !== '') properties[k] = p[k];
  const wire: Record<string, unknown> = {
    id: id === undefined ? undefined : `braze:${id}`,
    type,
    userId: str(user.external_user_id) ?? str(user.user_id),
    ...source,
    channel,
    linkAlias: type === 'click' ? idOrUndefined(str(p.link_alias)) : undefined,
    time: typeof e.time === 'number' ? e.time * 1000 : undefined, // whole UNIX seconds (checked below)
    properties,
  };
  if (e.time === undefined) return { kind: 'invalid', id, code: 'missing_field', message: 'missing field "time"' };
  if (typeof e.time !== 'number' || !Number.isInteger(e.time)) return { kind: 'invalid', id, code: 'invalid_time', message: 'time is not whole UNIX seconds' };
  return { kind: 'event', id, event: stripUndefined(wire), msgId: id === undefined ? undefined : `braze:${id}` };
}

