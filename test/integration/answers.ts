import { appendFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { OpenAPI3 } from 'openapi-typescript';
import { answerChecker } from './client.js';

/**
 * Every answer of the integration suite checked against the OpenAPI document (issue 27): an
 * onSend hook, installed on each app startStack builds, checks each answer of a documented
 * operation with answerChecker (status documented, body as its schema says) and records
 * what is wrong. Nothing in the answer changes.
 *
 * At exit the process reports, by TIERSTREAM_TEST_ANSWERS:
 *   a file path (test/run.ts sets one for the integration suite): one JSON line
 *     `{"checked": n, "violations": [...]}` is appended to it, and run.ts counts it as a test;
 *   `-` (a file run by hand): violations are printed and the exit code is 1;
 *   unset (other suites reusing startStack: e2e, faults, clusters): violations are printed only.
 */
const found = { checked: 0, violations: new Set<string>() };
let reporting = false;

/** Fastify's `/v1/filters/:id` as the document writes it, `/v1/filters/{id}`. */
const documentPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Checks every answer of `app` against the document it serves, from now on. Call before the app is ready. */
export function checkAnswers(app: FastifyInstance): void {
  let doc: OpenAPI3 | undefined;
  let check: ReturnType<typeof answerChecker> | undefined;
  app.addHook('onSend', async (req, reply, payload) => {
    const url = req.routeOptions.url;
    if (url === undefined || req.method === 'HEAD') return payload;
    // The document as a client reads it from /docs/json.
    doc ??= JSON.parse(JSON.stringify(app.swagger())) as OpenAPI3;
    check ??= answerChecker(doc);
    const path = documentPath(url);
    // Routes the document leaves out on purpose (the console's page, /docs itself) are not checked.
    if (!(doc.paths?.[path] as Record<string, unknown> | undefined)?.[req.method.toLowerCase()]) return payload;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload) && payload !== null && payload !== undefined) return payload;
    const text = payload === null || payload === undefined ? '' : String(payload);
    const type = String(reply.getHeader('content-type') ?? '').split(';')[0]!.trim();
    found.checked++;
    let wrong: string | undefined;
    try {
      wrong = check(req.method, path, reply.statusCode, type, text);
    } catch (err) {
      wrong = `${req.method} ${path} -> ${reply.statusCode}: ${(err as Error).message}`;
    }
    if (wrong) found.violations.add(wrong);
    return payload;
  });
  if (!reporting) {
    reporting = true;
    process.on('exit', report);
  }
}

function report(): void {
  const violations = [...found.violations];
  const file = process.env.TIERSTREAM_TEST_ANSWERS;
  if (file && file !== '-') {
    appendFileSync(file, `${JSON.stringify({ checked: found.checked, violations })}\n`);
    return;
  }
  if (violations.length) {
    process.stderr.write(`\n${violations.length} answers not as the OpenAPI document says (of ${found.checked} checked):\n${violations.map((v) => `  ${v}`).join('\n')}\n`);
    if (file === '-') process.exitCode = 1;
  }
}
