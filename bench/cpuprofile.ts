/**
 * Reads a V8 .cpuprofile (what `node --cpu-prof` writes at exit) and sums self time over a
 * window: by function (name, file, line) and by file or package. The profile samples the main
 * thread only, every `--cpu-prof-interval` µs (1,000 by default); each sample's time is the gap
 * to the next one. `(idle)` samples (the thread waiting for I/O) are kept apart, so the shares
 * are of the time the main thread was busy.
 *
 * Project files run through tsx, which compiles each to one line (esbuild, minified
 * whitespace): a frame's line is found again by compiling the file the same way and reading
 * the source map (`originalLine`).
 *
 * Timestamps are V8's monotonic clock in µs, the clock process.hrtime reads on Linux, so a
 * window taken with process.hrtime.bigint() in another process selects the same moments.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { transformSync } from 'esbuild';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface SelfTime {
  name: string;
  /** Self time in the window, ms. */
  ms: number;
  /** Share of the busy (non-idle) time in the window, percent. */
  pct: number;
}

export interface ProfileSummary {
  /** The window the samples were taken from, µs since the profile's start (V8 clock). */
  windowUs: { from: number; to: number };
  samples: number;
  busyMs: number;
  idleMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
}

export const readProfile = (file: string): CpuProfile => JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;

/**
 * The file or package a frame belongs to: `fastify`, `@fastify/rate-limit` (under
 * node_modules), `node:internal/...` trimmed to its module, a project file relative to `root`,
 * or the frame's own name for V8's pseudo frames and built-ins without a script
 * (`(garbage collector)`, `(program)`, `JSON.stringify`...).
 */
export function fileOf(f: CallFrame, root: string): string {
  const url = f.url.replace(/^file:\/\//, '');
  if (!url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const r = root.endsWith('/') ? root : `${root}/`;
  return url.startsWith(r) ? url.slice(r.length) : url;
}

/** tsx's esbuild options (tsx 4: dist/index-*.mjs), so the columns match what ran. */
const TSX_OPTIONS = { target: `node${process.versions.node}`, sourcemap: true, minifyWhitespace: true, keepNames: true, format: 'esm' } as const;
const maps = new Map<string, SourceMap | null>();

/** The 1-based source line of a generated position in a project .ts file, as tsx compiled it; undefined when not found. */
function originalLine(path: string, line: number, column: number): number | undefined {
  let map = maps.get(path);
  if (map === undefined) {
    try {
      const out = transformSync(readFileSync(path, 'utf8'), { ...TSX_OPTIONS, loader: 'ts', sourcefile: path });
      map = new SourceMap(JSON.parse(out.map));
    } catch {
      map = null;
    }
    maps.set(path, map);
  }
  const e = map?.findEntry(line, column) as { originalLine?: number } | undefined;
  return e?.originalLine === undefined ? undefined : e.originalLine + 1;
}

const frameName = (f: CallFrame, root: string) => {
  const file = fileOf(f, root);
  const fn = f.functionName || '(anonymous)';
  if (!f.url) return fn;
  // keepNames: tsx defines `__name(fn, "name")` at the top of every file and calls it each time a named closure is made.
  if (fn === '__name' && f.lineNumber === 0 && f.columnNumber < 100) return '__name (tsx keepNames helper, called per closure made)';
  const path = f.url.replace(/^file:\/\//, '');
  const line = path.endsWith('.ts') && !path.includes('/node_modules/') ? originalLine(path, f.lineNumber, f.columnNumber) : f.lineNumber + 1;
  return `${fn} ${file}:${line ?? `?c${f.columnNumber}`}`;
};

/**
 * Self time per function and per file over [fromUs, toUs] (absolute, the profile's clock;
 * default the whole profile). `root` is the checkout, for relative file names.
 */
export function summarizeProfile(p: CpuProfile, root: string, opts: { fromUs?: number; toUs?: number; top?: number } = {}): ProfileSummary {
  const from = opts.fromUs ?? p.startTime;
  const to = opts.toUs ?? p.endTime;
  const top = opts.top ?? 20;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let n = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < from || t > to) continue;
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1]! : 0;
    const node = byId.get(p.samples[i]!)!;
    n++;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const name = frameName(node.callFrame, root);
    fn.set(name, (fn.get(name) ?? 0) + dt);
    const f = fileOf(node.callFrame, root);
    file.set(f, (file.get(f) ?? 0) + dt);
  }
  const rank = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, pct: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0 }));
  return {
    windowUs: { from: from - p.startTime, to: to - p.startTime },
    samples: n,
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    byFunction: rank(fn),
    byFile: rank(file),
  };
}
