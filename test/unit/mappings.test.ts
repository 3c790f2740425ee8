import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BRAZE_SKIPPED, BRAZE_TYPES, mapBrazeCurrentsEvent, mapSegmentCall } from '../../core/index.js';

const braze = (event_type: string, properties: object, user: object = { user_id: 'b1' }) =>
  ({ id: 'x1', event_type, time: 1_796_083_200, user, properties });

test('Braze: an empty canvas_id makes a campaign event; no channel outside users.messages; Braze user_id when no external id', () => {
  const m = mapBrazeCurrentsEvent(braze('users.messages.email.Send', { canvas_id: '', canvas_step_id: 's', campaign_id: 'C', message_variation_id: 'v' }));
  assert.equal(m, {
    kind: 'event', id: 'x1', msgId: 'braze:x1',
    event: { id: 'braze:x1', type: 'send', userId: 'b1', campaignId: 'C', variantId: 'v', channel: 'email', time: 1_796_083_200_000, properties: { braze_event_type: 'users.messages.email.Send' } },
  });
  const conv = mapBrazeCurrentsEvent(braze('users.canvas.Conversion', { canvas_id: 'K', canvas_step_id: 's', canvas_variation_id: 'cv' }, { user_id: 'b1', external_user_id: 'e1' }));
  assert.equal(conv.kind === 'event' && conv.event, { id: 'braze:x1', type: 'conversion', userId: 'e1', canvasId: 'K', stepId: 's', variantId: 'cv', canvasVariationId: 'cv', time: 1_796_083_200_000, properties: { braze_event_type: 'users.canvas.Conversion' } });
});

test('Braze: machine_open only for the string "true" on email opens; canvas entry outside control skipped; unknown types skipped', () => {
  const type = (t: string, p: object) => { const m = mapBrazeCurrentsEvent(braze(t, { campaign_id: 'C', ...p })); return m.kind === 'event' ? m.event.type : m.kind; };
  assert.is(type('users.messages.email.Open', { machine_open: 'true' }), 'machine_open');
  assert.is(type('users.messages.email.Open', { machine_open: true }), 'open');
  assert.is(type('users.messages.email.Open', { machine_open: 'false' }), 'open');
  assert.is(type('users.messages.pushnotification.Open', { machine_open: 'true' }), 'open');
  assert.is(type('users.canvas.Entry', { canvas_id: 'K', in_control_group: false }), 'skipped');
  assert.is(type('users.canvas.Entry', { canvas_id: 'K', in_control_group: true }), 'control');
  assert.is(type('users.messages.banner.Impression', {}), 'skipped');
  // The table and the skipped list do not overlap.
  for (const t of Object.keys(BRAZE_SKIPPED)) assert.is(BRAZE_TYPES[t], undefined, t);
});

test('Braze: soft bounces are soft_bounce; a click\'s link_alias is its linkAlias when it is an id, else only a property', () => {
  const m = (t: string, p: object) => mapBrazeCurrentsEvent(braze(t, { campaign_id: 'C', ...p }));
  const soft = m('users.messages.email.SoftBounce', {});
  assert.is(soft.kind === 'event' && soft.event.type, 'soft_bounce');
  const click = m('users.messages.email.Click', { link_alias: 'hero_cta' });
  assert.is(click.kind === 'event' && click.event.linkAlias, 'hero_cta');
  const odd = m('users.messages.email.Click', { link_alias: 'two words' });
  assert.is(odd.kind === 'event' && odd.event.linkAlias, undefined);
  assert.equal(odd.kind === 'event' && odd.event.properties, { braze_event_type: 'users.messages.email.Click', link_alias: 'two words' });
  // An alias on another type (Braze sends none) would not make the event invalid.
  const open = m('users.messages.email.Open', { link_alias: 'hero_cta' });
  assert.is(open.kind === 'event' && open.event.linkAlias, undefined);
});

test('Segment: Braze export soft bounces and click aliases; canvas variation', () => {
  const call = (event: string, properties: object) => mapSegmentCall({ type: 'track', event, userId: 'u', messageId: 'm', timestamp: '2026-12-01T00:00:00Z', properties });
  const soft = call('Email Soft Bounced', { campaign_id: 'C' });
  assert.is(soft.kind === 'event' && soft.event.type, 'soft_bounce');
  const click = call('Email Link Clicked', { campaign_id: 'C', link_alias: 'hero' });
  assert.is(click.kind === 'event' && click.event.linkAlias, 'hero');
  const entry = call('Canvas Entered', { canvas_id: 'K', canvas_variation_id: 'cv', in_control_group: true });
  assert.is(entry.kind === 'event' && entry.event.canvasVariationId, 'cv');
});

test('Braze and Segment: what cannot be mapped is named with the validator\'s codes', () => {
  assert.equal(mapBrazeCurrentsEvent({ id: 'y' }), { kind: 'invalid', id: 'y', code: 'missing_field', message: 'missing field "event_type"' });
  assert.is((mapBrazeCurrentsEvent(braze('users.messages.email.Send', {})) as { code: string }).code, 'invalid_source');
  assert.is((mapBrazeCurrentsEvent({ ...braze('users.messages.email.Send', { campaign_id: 'C' }), time: '1796083200' }) as { code: string }).code, 'invalid_time');
  assert.is((mapSegmentCall({ type: 'track', event: 'Email Opened', messageId: 'm', properties: { campaign_id: 'C' } }) as { code: string }).code, 'missing_field');
  assert.equal(mapSegmentCall(null), { kind: 'skipped', id: undefined, name: 'untyped call' });
});

test('Segment: names compared without case; the nested campaign id; machine opens', () => {
  const m = mapSegmentCall({ type: 'track', event: 'email marked AS spam', userId: 'u', messageId: 'm1', timestamp: '2026-12-01T00:00:00Z', properties: { campaign: { id: 'N' } } });
  assert.equal(m.kind === 'event' && m.event, { id: 'segment:m1', type: 'spam', userId: 'u', campaignId: 'N', channel: 'email', time: '2026-12-01T00:00:00Z', properties: { segment_event: 'email marked AS spam' } });
  const o = mapSegmentCall({ type: 'track', event: 'Email Opened', userId: 'u', messageId: 'm2', timestamp: '2026-12-01T00:00:00Z', properties: { campaign_id: 'C', machine_open: true } });
  assert.is(o.kind === 'event' && o.event.type, 'machine_open');
});

test.run();
