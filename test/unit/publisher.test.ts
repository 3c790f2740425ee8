import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Msg, MsgHdrs, NatsConnection } from 'nats';
import { JetStreamPublisher, PublishError, type Settled } from '../../engine/ingest/publisher.js';
import { createEventSink } from '../../engine/ingest/event-sink.js';
import { StreamFullError } from '../../core/index.js';

/** A message sent by the publisher, as the fake server saw it. */
interface Sent { subject: string; msgId: string; reply: string }

/**
 * A NatsConnection with nothing behind it: records each publish (with its Nats-Msg-Id as it
 * was at send time: the publisher refills one headers object) and lets the test answer on the
 * reply subject, as JetStream would.
 */
function fakeNats() {
  const sent: Sent[] = [];
  const subs: { prefix: string; callback: (err: Error | null, msg: Msg) => void }[] = [];
  let closed = false;
  const nc = {
    subscribe(subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) {
      const sub = { prefix: subject.replace(/\*$/, ''), callback: opts.callback };
      subs.push(sub);
      return { unsubscribe: () => { subs.splice(subs.indexOf(sub), 1); } };
    },
    publish(subject: string, _data: Uint8Array, opts: { reply: string; headers: MsgHdrs }) {
      if (closed) throw Object.assign(new Error('connection closed'), { code: 'CONNECTION_CLOSED' });
      sent.push({ subject, msgId: opts.headers.get('Nats-Msg-Id'), reply: opts.reply });
    },
    isClosed: () => closed,
  } as unknown as NatsConnection;
  const deliver = (reply: string, msg: Partial<Msg>) => {
    for (const s of subs) if (reply.startsWith(s.prefix)) s.callback(null, { subject: reply, data: new Uint8Array(), ...msg } as Msg);
  };
  const json = (reply: string, body: object) => deliver(reply, { data: new TextEncoder().encode(JSON.stringify(body)) });
  return {
    nc, sent, subs,
    ack: (s: Sent, duplicate = false) => json(s.reply, { stream: 'X', seq: 1, ...(duplicate && { duplicate: true }) }),
    ackError: (s: Sent, code: number, description: string) => json(s.reply, { error: { code, err_code: 10077, description } }),
    noResponders: (s: Sent) => deliver(s.reply, { headers: { hasError: true, code: 503, description: '' } as unknown as MsgHdrs }),
    close: () => { closed = true; },
  };
}

const bytes = new Uint8Array([123, 125]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codes = (settled: Settled[]) => settled.map((s) => (s instanceof PublishError ? s.code : s));

test('acknowledgements are matched by their reply token; at most `window` events unacknowledged at once, the rest sent as acks come', async () => {
  const f = fakeNats();
  const p = new JetStreamPublisher(f.nc, { window: 2, timeoutMs: 5_000, attempts: 3 });
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const done = p.publish(ids.map((id) => `ns.events.${id}`), ids.map(() => bytes), ids);
  assert.equal(f.sent.map((s) => s.msgId), ['a', 'b']);
  assert.is(p.inFlight, 2);
  f.ack(f.sent[1]!, true); // out of order
  assert.equal(f.sent.map((s) => s.msgId), ['a', 'b', 'c']);
  f.ack(f.sent[0]!);
  f.ack(f.sent[2]!);
  f.ack(f.sent[3]!);
  f.ack(f.sent[4]!);
  assert.equal(f.sent.map((s) => [s.subject, s.msgId]), ids.map((id) => [`ns.events.${id}`, id]));
  assert.equal(new Set(f.sent.map((s) => s.reply)).size, 5, 'one token per attempt');
  assert.equal(await done, ['stored', 'duplicate', 'stored', 'stored', 'stored']);
  assert.is(p.inFlight, 0);
  await p.close();
  assert.is(f.subs.length, 0, 'close leaves the inbox subscription');
});

test('a stream at its bound answers stream_full at once, not retried; the rest of the call still settles', async () => {
  const f = fakeNats();
  const p = new JetStreamPublisher(f.nc, { window: 10, timeoutMs: 5_000, attempts: 3 });
  const done = p.publish(['s.x', 's.y'], [bytes, bytes], ['x', 'y']);
  f.ackError(f.sent[0]!, 503, 'maximum bytes exceeded');
  f.ack(f.sent[1]!);
  const settled = await done;
  assert.equal(codes(settled), ['stream_full', 'stored']);
  assert.is((settled[0] as PublishError).id, 'x');
  assert.is(f.sent.length, 2);
  await p.close();
});

test('an attempt past its deadline is sent again with the same message id; the late first answer is ignored', async () => {
  const f = fakeNats();
  const p = new JetStreamPublisher(f.nc, { window: 10, timeoutMs: 20, attempts: 3 });
  const done = p.publish(['s.x'], [bytes], ['x']);
  const first = f.sent[0]!;
  while (f.sent.length < 2) await sleep(10); // 20 ms, then 100 ms before the second attempt
  assert.equal(f.sent.map((s) => s.msgId), ['x', 'x']);
  assert.is.not(f.sent[1]!.reply, first.reply);
  f.ack(first); // too late: its attempt was given up on
  f.ack(f.sent[1]!, true);
  assert.equal(await done, ['duplicate']);
  await p.close();
});

test('no responders is retried `attempts` times, then settles unavailable; a closed publisher refuses', async () => {
  const f = fakeNats();
  const p = new JetStreamPublisher(f.nc, { window: 10, timeoutMs: 5_000, attempts: 2 });
  const done = p.publish(['s.x'], [bytes], ['x']);
  f.noResponders(f.sent[0]!);
  while (f.sent.length < 2) await sleep(10);
  f.noResponders(f.sent[1]!);
  const [settled] = await done;
  assert.instance(settled, PublishError);
  assert.is((settled as PublishError).code, 'unavailable');
  assert.match((settled as PublishError).message, /after 2 attempts/);
  await p.close();
  assert.equal(codes(await p.publish(['s.y'], [bytes], ['y'])), ['closed']);
});

test('createEventSink: stored and duplicate as acknowledged; stream_full rejects with StreamFullError, a connection closed with its PublishError', async () => {
  const f = fakeNats();
  const sink = createEventSink(f.nc, 'ns', { timeoutMs: 5_000 });
  const stored = sink.publish('send', bytes, 'm1');
  const duplicate = sink.publish('click', bytes, 'm2');
  const full = sink.publish('send', bytes, 'm3');
  assert.equal(f.sent.map((s) => [s.subject, s.msgId]), [['ns.events.send', 'm1'], ['ns.events.click', 'm2'], ['ns.events.send', 'm3']]);
  f.ack(f.sent[0]!);
  f.ack(f.sent[1]!, true);
  f.ackError(f.sent[2]!, 503, 'maximum messages exceeded');
  assert.is(await stored, 'stored');
  assert.is(await duplicate, 'duplicate');
  const err = await full.then(() => undefined, (e: unknown) => e);
  assert.instance(err, StreamFullError);
  f.close();
  const closed = await sink.publish('send', bytes, 'm4').then(() => undefined, (e: unknown) => e);
  assert.instance(closed, PublishError);
  assert.is((closed as PublishError).code, 'closed');
});

test.run();
