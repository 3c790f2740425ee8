import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import type { OpenAPI3 } from 'openapi-typescript';
import { CLIENT_TYPES, generateClientTypes, lintOpenapi, openapiDocument } from '../../scripts/openapi.js';

/**
 * The OpenAPI document a client is generated from: it passes Redocly's recommended rules
 * (redocly.yaml), and client/openapi.ts is what generating it now gives.
 */
const test = suite<{ doc: OpenAPI3 }>('openapi');
test.before(async (ctx) => {
  ctx.doc = await openapiDocument();
});

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
type Op = { operationId?: string; security?: unknown; 'x-scope'?: string; responses: Record<string, unknown> };
const operations = (doc: OpenAPI3) =>
  Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as Record<string, unknown>)[m]).map((m) => ({ name: `${m.toUpperCase()} ${path}`, path, op: (item as Record<string, Op>)[m]! })));

test('Redocly recommended rules: no error, no warning (beyond the ignore file)', async ({ doc }) => {
  const problems = (await lintOpenapi(doc)).filter((p) => !p.ignored);
  assert.equal(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`), []);
});

test('the lint sees a problem where there is one', async ({ doc }) => {
  const broken = structuredClone(doc);
  delete (broken.paths!['/v1/campaigns/{id}'] as { get: { summary?: string } }).get.summary;
  const problems = (await lintOpenapi(broken)).filter((p) => !p.ignored);
  assert.ok(problems.some((p) => p.ruleId === 'operation-summary' && p.severity === 'error'), JSON.stringify(problems.map((p) => p.ruleId)));
});

test('every /v1 operation needs the Bearer key and names its scope; its auth errors are documented', ({ doc }) => {
  const v1 = operations(doc).filter((o) => o.path.startsWith('/v1/'));
  assert.ok(v1.length >= 26, `${v1.length} operations`);
  for (const { name, op } of v1) {
    assert.equal(op.security, [{ bearer: [] }], name);
    assert.ok(['lookup', 'restore', 'ingest', 'admin'].includes(op['x-scope'] ?? ''), `${name}: x-scope ${op['x-scope']}`);
    for (const status of ['400', '401', '403', '429', '503']) assert.ok(op.responses[status], `${name}: ${status}`);
  }
  for (const { name, op } of operations(doc).filter((o) => !o.path.startsWith('/v1/'))) assert.equal(op.security, [], `${name} is public`);
  const ids = operations(doc).map((o) => o.op.operationId);
  assert.is(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('servers are relative to where the document is served, so /docs "Try it out" works on any host and port', ({ doc }) => {
  assert.ok(doc.servers && doc.servers.length > 0, 'a server is named');
  for (const server of doc.servers) assert.not.match(server.url, /^[a-z]+:\/\//i, `${server.url} names a host`);
});

test('every body and answer with a filter refers to the recursive Filter schema', ({ doc }) => {
  const found: string[] = [];
  const walk = (node: unknown, where: string): void => {
    if (!node || typeof node !== 'object') return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    if (props && 'filter' in props) {
      found.push(where);
      assert.equal(props.filter && (props.filter as { $ref?: string }).$ref, '#/components/schemas/Filter', `${where}.filter`);
    }
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
  };
  walk(doc.paths, 'paths');
  walk(doc.components?.schemas?.RegisteredFilter, 'RegisteredFilter');
  for (const path of ['/v1/retargeting/check', '/v1/retargeting/count', '/v1/retargeting/audience', '/v1/filters/{id}']) {
    assert.ok(found.some((w) => w.startsWith(`paths/${path}/`) && w.includes('requestBody')), `${path} takes a filter`);
  }
  assert.ok(found.includes('RegisteredFilter'));
  const filter = doc.components?.schemas?.Filter as { oneOf?: unknown[] };
  assert.ok(filter.oneOf && filter.oneOf.length >= 6, 'Filter is one of the leaves and combinators');
});

test('client/openapi.ts is generated from the current document (else: npm run openapi)', async ({ doc }) => {
  const fresh = await generateClientTypes(doc);
  const checkedIn = await readFile(CLIENT_TYPES, 'utf8');
  if (fresh !== checkedIn) {
    const a = fresh.split('\n');
    const b = checkedIn.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.unreachable(`client/openapi.ts differs from a fresh generation from line ${line + 1}: run \`npm run openapi\`\n- ${b[line]}\n+ ${a[line]}`);
  }
});

test.run();
