import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { startStack } from './helpers.js';

/** docs/grafana-dashboard.json queries only metrics that /metrics exposes. */
test('every metric the Grafana dashboard queries exists on /metrics', async () => {
  const dash = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const queried = new Set<string>();
  for (const p of dash.panels) {
    assert.ok(p.targets.length > 0, `${p.title} has queries`);
    for (const t of p.targets) for (const m of t.expr.matchAll(/\btierstream_[a-z_]+/g)) queried.add(m[0].replace(/_(bucket|sum|count)$/, ''));
  }
  assert.ok(queried.size >= 10, `the dashboard covers the metrics (${queried.size})`);
  const stack = await startStack();
  try {
    const text = (await stack.ts.app.inject({ method: 'GET', url: '/metrics' })).body;
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    for (const name of queried) assert.ok(exposed.has(name), `${name} is on /metrics`);
  } finally {
    await stack.stop();
  }
});

test.run();
