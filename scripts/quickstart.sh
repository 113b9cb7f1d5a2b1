#!/usr/bin/env bash
# Quickstart: set up and build, make an example image from Debian's busybox, sign it with a
# freshly generated gpg key, trust that key, fetch the image and run a pod that prints a greeting.
# Everything lives under ./.quickstart (data dir, config, keys): the host's /var/lib/rkt is untouched.
# Usage: bash scripts/quickstart.sh [stage1 flavor: coreos|fly]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${QUICKSTART_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

flavor=${1:-coreos}
qs=$PWD/.quickstart
rkt() { node packages/stage0/dist/rkt.mjs --dir="$qs/data" --local-config="$qs/etc" --system-config="$qs/lib" "$@"; }
if [ -d "$qs/data" ]; then rkt gc --grace-period=0s >/dev/null 2>&1 || true; fi
rm -rf "$qs"
mkdir -p "$qs"/{data,etc,lib,image/rootfs/bin,image/rootfs/etc,gnupg}
chmod 700 "$qs/gnupg"

echo "== 1. an image from Debian's busybox"
cp /bin/busybox "$qs/image/rootfs/bin/busybox"
for applet in sh echo cat ls hostname; do ln -s busybox "$qs/image/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$qs/image/rootfs/etc/passwd"
echo 'root:x:0:' > "$qs/image/rootfs/etc/group"
cat > "$qs/image/manifest" <<'JSON'
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "example.com/hello",
  "labels": [
    { "name": "version", "value": "1.0.0" },
    { "name": "os", "value": "linux" },
    { "name": "arch", "value": "amd64" }
  ],
  "app": {
    "exec": ["/bin/sh", "-c", "echo \"Hello from a rktnetes pod ($(hostname))\""],
    "user": "0",
    "group": "0"
  }
}
JSON
tar -C "$qs/image" -cf "$qs/hello.aci" manifest rootfs

echo "== 2. a fresh signing key, and a detached signature"
export GNUPGHOME=$qs/gnupg
gpg --batch --quiet --passphrase '' --quick-gen-key 'Quickstart <quickstart@example.com>' default default never 2>/dev/null
gpg --batch --quiet --armor --export quickstart@example.com > "$qs/pubkey.asc"
gpg --batch --quiet --armor --detach-sign --output "$qs/hello.aci.asc" "$qs/hello.aci"
gpgconf --kill gpg-agent 2>/dev/null || true

echo "== 3. trust the key for example.com/hello"
rkt trust --prefix=example.com/hello --skip-fingerprint-review "$qs/pubkey.asc"

echo "== 4. fetch (the signature is verified) and list"
rkt fetch "$qs/hello.aci"
rkt image list

echo "== 5. run a pod (stage1: $flavor)"
rkt run --stage1-path="$PWD/packages/stage1-$flavor/dist/stage1-$flavor.aci" example.com/hello:1.0.0
rkt list
rkt gc --grace-period=0s >/dev/null
echo "== done: data dir $qs/data"
