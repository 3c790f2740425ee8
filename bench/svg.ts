/**
 * Charts of benchmark results as standalone SVG, drawn by hand: a line chart (log axes
 * optional) and a horizontal bar chart, about a hundred lines with no dependency, instead of a
 * plotting library (vega-lite and its renderer are megabytes for two chart kinds). Written
 * under bench/charts/ with fixed names, so bench/README.md shows the last run's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Series { name: string; points: [number, number][] }

const W = 640;
const H = 360;
const M = { top: 40, right: 160, bottom: 50, left: 70 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: number) => (Math.abs(v) >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toPrecision(3)}`);

function frame(title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>
${body}</svg>
`;
}

/** Ticks of an axis: powers of ten on a log axis, about five round steps on a linear one. */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out;
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 5 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.floor(lo / nice) * nice; v <= hi + nice / 2; v += nice) out.push(+v.toPrecision(12));
  return out;
}

/** A line chart with one polyline and marker per series and a legend on the right. */
export function lineChart(opts: { title: string; x: string; y: string; series: Series[]; logX?: boolean; logY?: boolean }): string {
  const all = opts.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xt = ticks(Math.min(...xs), Math.max(...xs), !!opts.logX);
  const yt = ticks(opts.logY ? Math.min(...ys) : Math.min(0, ...ys), Math.max(...ys), !!opts.logY);
  const f = (log: boolean | undefined) => (v: number) => (log ? Math.log10(v) : v);
  const [fx, fy] = [f(opts.logX), f(opts.logY)];
  const [x0, x1, y0, y1] = [fx(xt[0]!), fx(xt[xt.length - 1]!), fy(yt[0]!), fy(yt[yt.length - 1]!)];
  const px = (v: number) => M.left + ((fx(v) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((fy(v) - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  let body = '';
  for (const t of xt) body += `<line x1="${px(t)}" x2="${px(t)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/><text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${num(t)}</text>\n`;
  for (const t of yt) body += `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/><text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${num(t)}</text>\n`;
  body += `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.x)}</text>\n`;
  body += `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.y)}</text>\n`;
  opts.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    body += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>\n`;
    for (const [x, y] of pts) body += `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${c}"><title>${esc(`${s.name}: ${num(x)}, ${num(y)}`)}</title></circle>\n`;
    body += `<rect x="${W - M.right + 12}" y="${M.top + i * 20}" width="12" height="12" fill="${c}"/><text x="${W - M.right + 30}" y="${M.top + i * 20 + 10}">${esc(s.name)}</text>\n`;
  });
  return frame(opts.title, body);
}

/** Horizontal bars, one per label, with the value printed at the end of each. */
export function barChart(opts: { title: string; x: string; bars: { label: string; value: number }[] }): string {
  const max = Math.max(...opts.bars.map((b) => b.value), 0) || 1;
  const left = 250;
  const rowH = Math.min(36, (H - M.top - M.bottom) / Math.max(1, opts.bars.length));
  let body = '';
  opts.bars.forEach((b, i) => {
    const y = M.top + i * rowH;
    const w = (b.value / max) * (W - left - 90);
    body += `<text x="${left - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`;
    body += `<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${COLORS[i % COLORS.length]}"/>`;
    body += `<text x="${left + w + 6}" y="${y + rowH / 2 + 4}">${num(b.value)}</text>\n`;
  });
  body += `<text x="${(left + W - 90) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.x)}</text>\n`;
  return frame(opts.title, body);
}

/** Writes a chart to bench/charts/<name>.svg and returns the path written. */
export function writeChart(name: string, svg: string): string {
  const file = join(dirname(fileURLToPath(import.meta.url)), 'charts', `${name}.svg`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, svg);
  return file;
}
