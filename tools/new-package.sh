#!/usr/bin/env bash
# usage: tools/new-package.sh <dir> <type:lib|type:bin> "<one-line purpose>" [bin-name...]
set -euo pipefail
dir=$1 type=$2 purpose=$3; shift 3
root=packages/$dir
mkdir -p "$root/src" "$root/test"
name="@rktnetes/$dir"
bins=""
if [ $# -gt 0 ]; then
  mkdir -p "$root/src/bin"
  for b in "$@"; do bins+="\"$b\": \"dist/$b.mjs\","; done
  bins="\"bin\": {${bins%,}},"
fi
cat > "$root/package.json" <<JSON
{
  "name": "$name",
  "version": "0.1.0",
  "description": "$purpose",
  "type": "module",
  "license": "Apache-2.0",
  $bins
  "exports": { ".": "./src/index.ts" },
  "files": ["dist", "README.md"]
}
JSON
cat > "$root/project.json" <<JSON
{
  "name": "$dir",
  "\$schema": "../../node_modules/nx/schemas/project-schema.json",
  "sourceRoot": "packages/$dir/src",
  "projectType": "$([ "$type" = type:bin ] && echo application || echo library)",
  "tags": ["$type"],
  "targets": {}
}
JSON
[ -f "$root/src/index.ts" ] || echo "export {};" > "$root/src/index.ts"
[ -f "$root/README.md" ] || printf '# %s\n\n%s\n' "$name" "$purpose" > "$root/README.md"
