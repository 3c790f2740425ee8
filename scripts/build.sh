#!/usr/bin/env bash
# The production build: tierstream compiled to JavaScript, what `npm start` runs.
#
#   scripts/build.sh [--if-stale] [OUTDIR]        (npm run build; OUTDIR defaults to dist)
#
# - tsc with tsconfig.build.json: main.ts and everything it imports, type-checked (a type
#   error fails the build and leaves OUTDIR as it was), with source maps;
# - the Lua scripts (every *.lua of the sources, read at run time beside their module);
# - the console (console/): its page, stylesheet and script bundled once, by esbuild, into
#   OUTDIR/console/, where the compiled API serves them from.
# The new tree is built beside OUTDIR and moved into place at the end, so a failed build leaves
# the previous one, and files of deleted sources do not linger.
# --if-stale builds only when OUTDIR has no finished build or a source is newer than it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'build: %s\n' "$*" >&2; }

if_stale=0
if [ "${1:-}" = --if-stale ]; then if_stale=1; shift; fi
out="${1:-dist}"
stamp="$out/.built"

# Folders that hold no source of the build: tests, benchmarks, docs and scripts are not compiled.
pruned() {
  find . \( -path ./node_modules -o -path ./.git -o -path ./.data -o -path ./.scratch -o -path './dist*' -o -path "./${out#./}" \
    -o -path ./test -o -path ./bench -o -path ./docs -o -path ./scripts \) -prune -o "$@"
}

# Files a build reads: sources, Lua scripts, the console, the compiler's and npm's settings.
newer_sources() {
  pruned -type f \( -name '*.ts' -o -name '*.lua' -o -path './console/*' -o -name 'tsconfig*.json' -o -name package-lock.json \) \
    -newer "$stamp" -print | head -n 1
}

if [ "$if_stale" = 1 ] && [ -f "$stamp" ]; then
  changed="$(newer_sources)"
  if [ -z "$changed" ]; then exit 0; fi
  log "$changed is newer than $out: building"
elif [ "$if_stale" = 1 ]; then
  log "no build in $out: building"
fi

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
started=$(date +%s%N)
# Stamped when it starts: a source saved during the build is newer than the build.
mkdir -p "$tmp"
touch "$tmp/.built"

node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$tmp"

# Lua scripts keep their place beside the module that reads them (new URL('./lua/x.lua', import.meta.url)).
pruned -type f -name '*.lua' -print | while read -r f; do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$f" "$tmp/$f"
done

# The console, bundled by the compiled code itself (api/console.js), with the options the
# development server uses.
node --input-type=module -e '
  import { pathToFileURL } from "node:url";
  const [src, dest, mod] = process.argv.slice(1);
  const { writeConsoleAssets } = await import(pathToFileURL(mod).href);
  await writeConsoleAssets(src, dest);
' "$root/console" "$tmp/console" "$tmp/api/console.js"

# The producer library (producer/): its own package in OUTDIR/producer, with types and the event's
# JSON Schema, for other projects to install (docs/producing.md, "Library: `@tierstream/producer` (NATS)").
node node_modules/typescript/bin/tsc -p tsconfig.producer.json --outDir "$tmp/producer"
node --input-type=module -e '
  import { readFileSync, writeFileSync } from "node:fs";
  import { pathToFileURL } from "node:url";
  const [root, dest] = process.argv.slice(1);
  const own = JSON.parse(readFileSync(`${root}/package.json`, "utf8"));
  const { EVENT_JSON_SCHEMA } = await import(pathToFileURL(`${dest}/core/event-schema.js`).href);
  writeFileSync(`${dest}/event.schema.json`, JSON.stringify(EVENT_JSON_SCHEMA, null, 2) + "\n");
  writeFileSync(`${dest}/package.json`, JSON.stringify({
    name: "@tierstream/producer",
    version: own.version,
    description: "Publishes tierstream events to NATS JetStream, checked by the engine validator",
    type: "module",
    main: "./producer/index.js",
    types: "./producer/index.d.ts",
    exports: { ".": { types: "./producer/index.d.ts", default: "./producer/index.js" }, "./event.schema.json": "./event.schema.json" },
    engines: own.engines,
    dependencies: { nats: own.dependencies.nats, ajv: own.dependencies.ajv },
  }, null, 2) + "\n");
' "$root" "$tmp/producer"

# The compiled files are ES modules: said here too, for a dist/ deployed without the repository's package.json.
printf '{ "type": "module" }\n' > "$tmp/package.json"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "built $out in $(( ($(date +%s%N) - started) / 1000000 )) ms"
