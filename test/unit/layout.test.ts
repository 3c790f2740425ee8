import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const ROOMS = ['core', 'engine', 'storage', 'api', 'client'];
/** The files of the composition root that may read the environment (supervisor.ts, also of the root, passes it on only). */
const ENTRY_POINTS = new Set(['main.ts', 'runtime.ts', 'config.ts']);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every `process.env` a file reads, parsed (not grepped): comments and strings do not count. */
function envReads(file: string): number[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && node.name.text === 'env' && ts.isIdentifier(node.expression) && node.expression.text === 'process') {
      lines.push(src.getLineAndCharacterOfPosition(node.getStart()).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return lines;
}

test('only the composition root reads process.env', () => {
  const topLevel = readdirSync(root).filter((n) => n.endsWith('.ts') && !ENTRY_POINTS.has(n)).map((n) => join(root, n));
  const offenders = [...topLevel, ...ROOMS.flatMap((r) => tsFiles(join(root, r)))]
    .flatMap((f) => envReads(f).map((line) => `${relative(root, f)}:${line}`));
  assert.equal(offenders, []);
  // The check sees a read where there is one.
  assert.ok([...ENTRY_POINTS].some((f) => envReads(join(root, f)).length > 0));
});

test.run();
