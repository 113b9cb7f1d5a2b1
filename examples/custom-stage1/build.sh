#!/bin/sh
# build.sh [OUT]: packs this stage1 into an ACI (an uncompressed tar of `manifest` and
# `rootfs/`), by default custom-stage1.aci in the current directory. Reproducible: fixed
# owner, mtime and order (GNU tar).
set -eu
out=${1:-custom-stage1.aci}
here=$(cd "$(dirname -- "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/rootfs"
cp "$here/manifest.json" "$work/manifest"
for f in run enter gc stop; do
  cp "$here/rootfs/$f" "$work/rootfs/$f"
  chmod 0755 "$work/rootfs/$f"
done
cp "$here/rootfs/jsonflat.awk" "$work/rootfs/jsonflat.awk"
chmod 0644 "$work/manifest" "$work/rootfs/jsonflat.awk"
chmod 0755 "$work/rootfs"

tar --create --file "$out" --directory "$work" \
  --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name \
  manifest rootfs
echo "wrote $out"
