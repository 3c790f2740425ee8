/** Number formats of the tiers benchmark's printed lines. */
import { MiB } from '../measure.js';

export const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
export const mib = (bytes: number) => (bytes / MiB).toFixed(1);
export const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
export const fmtCpu = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ') || 'not readable';
export const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
