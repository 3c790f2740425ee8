import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
/** What `node dist/main.js` and the packaged producer and client run: the product's code, compiled. */
const PRODUCT = ['core', 'engine', 'storage', 'api', 'producer', 'client', 'main.ts', 'runtime.ts', 'config.ts', 'supervisor.ts', 'metrics.ts', 'logging.ts'];
/**
 * Imports only development runs: the API bundles the console with esbuild when it runs from the
 * sources (tsx); compiled, it serves what `npm run build` bundled and never loads esbuild.
 */
const DEVELOPMENT_ONLY = new Set(['api/console.ts esbuild']);

function tsFiles(p: string): string[] {
  if (!statSync(p).isDirectory()) return p.endsWith('.ts') ? [p] : [];
  return readdirSync(p).flatMap((name) => tsFiles(join(p, name)));
}

const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);

/** The packages a file loads at run time (static and dynamic imports, re-exports; type-only ones are erased). */
function runtimeImports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) || (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier)) {
      out.push((node.moduleSpecifier as ts.StringLiteral).text);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && ts.isStringLiteral(node.arguments[0]!)) out.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out.filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s)).map(packageOf);
}

const imports = PRODUCT.flatMap((p) => tsFiles(join(root, p))).flatMap((f) => runtimeImports(f).map((name) => ({ file: relative(root, f), name })));

test('the product loads only production packages, but for what runs from the sources alone', () => {
  const wrong = imports.filter(({ file, name }) => !DEVELOPMENT_ONLY.has(`${file} ${name}`) && !(name in pkg.dependencies));
  assert.equal(wrong, []);
  const dev = imports.filter(({ file, name }) => DEVELOPMENT_ONLY.has(`${file} ${name}`) && !(name in pkg.devDependencies));
  assert.equal(dev, [], 'a development-only import is a devDependency, which `npm prune --omit=dev` removes');
});

test('every production package is loaded by the product (tsx, esbuild and the scripts\' packages are devDependencies)', () => {
  const loaded = new Set(imports.filter(({ file, name }) => !DEVELOPMENT_ONLY.has(`${file} ${name}`)).map((i) => i.name));
  assert.equal(Object.keys(pkg.dependencies).filter((name) => !loaded.has(name)), []);
});

test.run();
