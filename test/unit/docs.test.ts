import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The documentation's own consistency: every relative link and #anchor of README.md, docs/*.md
 * and the benchmark pages leads somewhere, and no section of the README as it was before it
 * was split into docs/ has been lost on the way.
 */

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const PAGES = [
  'README.md',
  ...readdirSync(join(root, 'docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`),
  'bench/README.md',
  'bench/HISTORY.md',
];

/** The lines of a Markdown text outside fenced code blocks. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** GitHub's anchor of a heading: lower case, punctuation dropped (but `-` and `_`), spaces to `-`. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** A page's headings (text) and anchors, duplicates numbered `-1`, `-2` as GitHub does. */
function headingsOf(text: string): { texts: string[]; anchors: Set<string> } {
  const texts: string[] = [];
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(text)) {
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    texts.push(m[1]!);
    const base = anchorOf(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const line of prose(text)) for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return { texts, anchors };
}

/** Every link target of a page outside code: `[text](target)` and `![alt](target)`. */
function linksOf(text: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  prose(text).forEach((line, i) => {
    const bare = line.replace(/`[^`]*`/g, '``');
    for (const m of bare.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/** What is wrong with the links of `page` (a path relative to the root), each as `page:line target: why`. */
export function brokenLinks(page: string, read: (path: string) => string | undefined): string[] {
  const text = read(page);
  if (text === undefined) return [`${page}: missing`];
  const problems: string[] = [];
  for (const { line, target } of linksOf(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = pathPart === '' ? page : join(dirname(page), decodeURIComponent(pathPart));
    const where = `${page}:${line} ${target}`;
    if (path.startsWith('..')) {
      problems.push(`${where}: outside the repository`);
      continue;
    }
    const linked = path === page ? text : read(path);
    if (linked === undefined) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor !== undefined && path.endsWith('.md') && !headingsOf(linked).anchors.has(anchor)) {
      problems.push(`${where}: no heading with anchor #${anchor} in ${path}`);
    }
  }
  return problems;
}

function readFromRoot(path: string): string | undefined {
  const p = join(root, path);
  if (!existsSync(p)) return undefined;
  return statSync(p).isDirectory() ? '' : readFileSync(p, 'utf8');
}

test('anchors follow GitHub: lower case, punctuation dropped, spaces to -', () => {
  assert.is(anchorOf('Library: `@tierstream/producer` (NATS)'), 'library-tierstreamproducer-nats');
  assert.is(anchorOf('Deployment past one machine (on paper)'), 'deployment-past-one-machine-on-paper');
  assert.is(anchorOf('HTTP: `POST /v1/events`'), 'http-post-v1events');
  assert.is(anchorOf('Tiers: how they work'), 'tiers-how-they-work');
});

test('the link check finds a missing file, a missing anchor and a link out of the tree', () => {
  const files: Record<string, string> = {
    'README.md': '# Top\n\n## Two words\n\nSee [a](docs/a.md#there), [b](docs/b.md), [c](#two-words), [d](#nowhere).\n\n```\n[e](docs/none.md)\n```\n',
    'docs/a.md': '# A\n\n## Here\n\n[up](../README.md#top) [out](../../x.md) [web](https://example.com/#x)\n',
  };
  const read = (p: string): string | undefined => files[p];
  assert.equal(brokenLinks('README.md', read), [
    'README.md:5 docs/a.md#there: no heading with anchor #there in docs/a.md',
    'README.md:5 docs/b.md: no such file',
    'README.md:5 #nowhere: no heading with anchor #nowhere in README.md',
  ]);
  assert.equal(brokenLinks('docs/a.md', read), ['docs/a.md:5 ../../x.md: outside the repository']);
});

test('every relative link and anchor of the documentation leads somewhere', () => {
  const problems = PAGES.flatMap((page) => brokenLinks(page, readFromRoot));
  assert.equal(problems, [], problems.join('\n'));
});

test('no section of the README of dfa0981 was lost: each heading heads a section of README.md or docs/*.md', () => {
  const fixture = readFileSync(join(root, 'test/fixtures/docs/readme-headings-dfa0981.txt'), 'utf8');
  const headings = new Map<string, string>();
  for (const page of PAGES.filter((p) => !p.startsWith('bench/'))) {
    for (const text of headingsOf(readFileSync(join(root, page), 'utf8')).texts) headings.set(text, page);
  }
  const missing = fixture
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => {
      const [, renamed] = line.split(' => ') as [string, string | undefined];
      return (renamed ?? line).replace(/^#{1,6}\s+/, '').trim();
    })
    .filter((text) => !headings.has(text));
  assert.equal(missing, [], `headings of the old README found on no page: ${missing.join(' | ')}`);
});

test('every benchmark result kept in bench/results/ is cited by a document', () => {
  const notes = existsSync(join(root, 'docs/notes'))
    ? readdirSync(join(root, 'docs/notes')).filter((n) => n.endsWith('.md')).map((n) => `docs/notes/${n}`)
    : [];
  const text = [...PAGES, ...notes].map((p) => readFileSync(join(root, p), 'utf8')).join('\n');
  const uncited = readdirSync(join(root, 'bench/results'))
    .filter((n) => n.endsWith('.json'))
    .filter((n) => !text.includes(n.replace(/\.json$/, '')));
  assert.equal(uncited, [], `cite them (bench/README.md, bench/HISTORY.md) or git rm them: ${uncited.join(', ')}`);
});

test.run();
