/**
 * Micro-benchmark of event validation (issue 13): the hand-written validateEvent against the
 * ajv-based validateEventReference it replaced, on parsed objects (validation alone) and on
 * bytes (decode: UTF-8, JSON.parse, validation, as the engine calls it).
 *
 *   npx tsx bench/validate.ts [--runs 7] [--ms 400]
 *   node --expose-gc --import tsx bench/validate.ts      (adds bytes allocated per event)
 *
 * Cases: the example event of docs/producing.md, "Event format"; a 1 KB event with properties; a mix of bad events (one
 * per rule: missing, unknown, each field's type/enum/charset, source, time, depth), and the
 * 1,000 realistic events of scripts/generate.ts. Each run times every case and implementation
 * for about --ms milliseconds, alternating; the table shows the median ns per event of --runs.
 * Bytes per event are an estimate: heapUsed growth over 500 events right after a forced GC,
 * median of 5 (a sample a scavenge interrupted would show less), including the harness's own
 * allocation (its row). 500 and 2,000 events per sample gave the same figures.
 */
import { parseArgs } from 'node:util';
import { DecodeError, validateEvent, decodeEvent, MAX_MESSAGE_BYTES } from '../core/validate.js';
import { validateEventReference } from '../test/support/validate-reference.js';
import type { InteractionEvent } from '../core/types.js';
import { generateEvents } from '../scripts/generate.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, ms: { type: 'string', default: '400' } } });
const RUNS = Number(values.runs);
const MS = Number(values.ms);

const readme = {
  id: 'e-1', type: 'send', userId: 'u42', campaignId: 'A', variantId: 'B',
  channel: 'email', time: '2026-03-01T10:00:00.000+01:00', properties: { subject: 'Hi' },
};
const props: Record<string, unknown> = {
  subject: 'Your March newsletter is here', template: 'newsletter-2026-03', locale: 'en-GB',
  segments: ['active', 'newsletter', 'eu'], ab: { arm: 'B', weight: 0.5 }, price: 19.99, items: [],
};
for (let i = 0; JSON.stringify({ ...readme, properties: props }).length < 1000; i++) props[`k${i}`] = `value-${i}`;
const kb = { ...readme, id: 'e-2', properties: props };

const good = { id: 'e1', type: 'send', userId: 'u@x.com', campaignId: 'A', time: '2026-03-01T00:00:00Z' };
const { campaignId: _c, ...noSource } = good;
let deep: unknown = {};
for (let i = 0; i < 40; i++) deep = { a: deep };
const bad: unknown[] = [
  null, [1], 'str', { ...good, id: undefined }, { type: 'send' }, { ...good, extra: 1 },
  JSON.parse('{"id":"e1","type":"send","userId":"u","campaignId":"A","time":1,"__proto__":{"x":1}}'),
  { ...good, id: 7 }, { ...good, id: '..' }, { ...good, id: 'a'.repeat(129) }, { ...good, type: 'view' },
  { ...good, userId: 'a b' }, { ...good, campaignId: 'a/b' }, { ...good, channel: 'fax' }, { ...good, time: true },
  { ...good, time: 1.5 }, { ...good, properties: [1] }, noSource, { ...good, canvasId: 'C' }, { ...good, stepId: 's' },
  { ...good, time: '2026-03-01T00:00:00' }, { ...good, time: -5 }, { ...good, properties: deep },
];
const generated = [...generateEvents({ count: 1000, campaigns: 20, users: 200_000, variants: 2, canvasShare: 0.2, seed: 1 })];

type Validate = (raw: unknown) => InteractionEvent;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** decodeEvent with the reference validator: the old ingest path (every case here is under 16 KiB and valid JSON). */
function decodeReference(payload: Uint8Array): InteractionEvent {
  if (payload.byteLength > MAX_MESSAGE_BYTES) throw new DecodeError('message_too_large', 'too large');
  return validateEventReference(JSON.parse(utf8.decode(payload)));
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
interface Case { name: string; objects: unknown[]; bytes: Uint8Array[] }
const inputs: { name: string; objects: unknown[] }[] = [
  { name: 'README example', objects: [readme] },
  { name: '1 KB with properties', objects: [kb] },
  { name: `bad mix (${bad.length} kinds)`, objects: bad },
  { name: 'generated (1,000)', objects: generated },
];
const cases: Case[] = inputs.map((c) => {
  // Validation sees what decodeEvent hands it: JSON.parse's objects (a 48-key object built in
  // JS is in dictionary mode and twice as slow to serialise, which no message is).
  const bytes = c.objects.map(enc);
  return { name: c.name, bytes, objects: bytes.map((b) => JSON.parse(new TextDecoder().decode(b))) };
});

let sink = 0;
function runObjects(fn: Validate, xs: unknown[], n: number): void {
  for (let i = 0; i < n; i++) {
    try { sink += fn(xs[i % xs.length]).time; } catch (e) { sink += (e as DecodeError).code.length; }
  }
}
function runBytes(fn: (b: Uint8Array) => InteractionEvent, xs: Uint8Array[], n: number): void {
  for (let i = 0; i < n; i++) {
    try { sink += fn(xs[i % xs.length]!).time; } catch (e) { sink += (e as DecodeError).code.length; }
  }
}

/** ns per event: runs batches until `ms` have passed. */
function time(body: (n: number) => void): number {
  const batch = 2_000;
  let n = 0;
  const t0 = process.hrtime.bigint();
  let t = t0;
  while (Number(t - t0) < MS * 1e6) {
    body(batch);
    n += batch;
    t = process.hrtime.bigint();
  }
  return Number(t - t0) / n;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** Bytes allocated per event, estimated from heapUsed growth over n events after a GC (needs --expose-gc). */
function bytesPerEvent(body: (n: number) => void): number | undefined {
  if (!gc) return undefined;
  const n = 500;
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    body(n);
    samples.push((process.memoryUsage().heapUsed - before) / n);
  }
  return median(samples);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const impls = {
  'validate ajv': (c: Case) => (n: number) => runObjects(validateEventReference, c.objects, n),
  'validate hand': (c: Case) => (n: number) => runObjects(validateEvent, c.objects, n),
  'decode ajv': (c: Case) => (n: number) => runBytes(decodeReference, c.bytes, n),
  'decode hand': (c: Case) => (n: number) => runBytes(decodeEvent, c.bytes, n),
};
type Impl = keyof typeof impls;

// Warm up every path (and compile ajv) before measuring.
for (const c of cases) for (const f of Object.values(impls)) f(c)(20_000);

const results = new Map<string, number[]>();
for (let r = 0; r < RUNS; r++) {
  for (const c of cases) {
    for (const name of Object.keys(impls) as Impl[]) {
      const key = `${c.name}|${name}`;
      results.set(key, [...(results.get(key) ?? []), time(impls[name](c))]);
    }
  }
}

console.log(`node ${process.version}, ${RUNS} runs of ~${MS} ms per cell, median ns/event${gc ? ', bytes/event (heapUsed growth, median of 5 × 500 events)' : ''}`);
const rows: string[][] = [['case', 'step', 'ajv ns', 'hand ns', 'hand vs ajv', ...(gc ? ['ajv B', 'hand B'] : [])]];
for (const c of cases) {
  for (const step of ['validate', 'decode'] as const) {
    const a = median(results.get(`${c.name}|${step} ajv`)!);
    const h = median(results.get(`${c.name}|${step} hand`)!);
    const row = [c.name, step, a.toFixed(0), h.toFixed(0), `${(((h - a) / a) * 100).toFixed(0)}%`];
    if (gc) {
      const ba = bytesPerEvent(impls[`${step} ajv`](c))!;
      const bh = bytesPerEvent(impls[`${step} hand`](c))!;
      row.push(ba.toFixed(0), bh.toFixed(0));
    }
    rows.push(row);
  }
}
if (gc) {
  // The loop's own allocation (boxing `sink`), included in every bytes column above.
  const fixed = validateEvent(cases[0]!.objects[0]);
  rows.push(['(harness alone)', 'validate', '', '', '', bytesPerEvent((n) => runObjects(() => fixed, cases[0]!.objects, n))!.toFixed(0), '']);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
if (sink === 0.5) console.log(sink);
