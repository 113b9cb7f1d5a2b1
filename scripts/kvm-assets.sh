#!/usr/bin/env bash
# Fetches and prepares the guest kernel of the kvm stage1 (packages/stage1-kvm), idempotently:
# the Debian generic kernel that linux-image-amd64 currently depends on, downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x` (no initramfs hooks run), its uncompressed
# PVH-capable vmlinux (the XZ payload of the bzImage) and the virtio/9p modules the guest loads.
#
# Usage: scripts/kvm-assets.sh [--force]
# Cache: $RKTNETES_KVM_ASSETS, default /var/cache/rktnetes/kvm:
#   <version>/vmlinux          the kernel qemu boots
#   <version>/modules/*.ko     the modules, uncompressed
#   <version>/base.order       modules loaded at every boot, in order (virtio, console, 9p)
#   <version>/net.order        modules loaded when the pod has a network interface
#   <version>/kernel-version   the kernel release, e.g. 6.1.0-56-amd64
#   current -> <version>       what the stage1-kvm build packs into dist/stage1-kvm.aci
# Prints the path of the prepared version directory on stdout.
set -euo pipefail

CACHE=${RKTNETES_KVM_ASSETS:-/var/cache/rktnetes/kvm}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

BASE_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console netfs fscache 9pnet 9pnet_virtio 9p)
NET_MODULES=(failover net_failover virtio_net)

log() { echo "kvm-assets: $*" >&2; }

# The versioned image package the meta-package depends on (linux-image-6.1.0-NN-amd64).
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
  log "cannot find the kernel linux-image-amd64 depends on (apt-get update?)"
  exit 1
fi
release=${pkg#linux-image-}
dir=$CACHE/$release

if [ "$FORCE" = 0 ] && [ -f "$dir/.complete" ]; then
  ln -sfn "$release" "$CACHE/current"
  echo "$dir"
  exit 0
fi

for tool in apt-get dpkg-deb xz readelf; do
  command -v "$tool" >/dev/null || { log "missing tool: $tool"; exit 1; }
done

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"

log "downloading $pkg"
# apt drops privileges to _apt for downloads when it can; the work dir is readable to it
(cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
deb=$(ls "$work"/*.deb 2>/dev/null | head -n1 || true)
[ -n "$deb" ] || { log "apt-get download $pkg produced no package"; exit 1; }
dpkg-deb -x "$deb" "$work/root"

bz=$work/root/boot/vmlinuz-$release
[ -f "$bz" ] || { log "no /boot/vmlinuz-$release in $pkg"; exit 1; }
# The bzImage carries the kernel as an XZ stream after the setup code: find its magic.
offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n1 | cut -d: -f1 || true)
[ -n "$offset" ] || { log "$bz has no XZ payload"; exit 1; }
mkdir -p "$work/out/modules"
tail -c +"$((offset + 1))" "$bz" > "$work/payload.xz"
xz -dc --single-stream < "$work/payload.xz" > "$work/out/vmlinux"
notes=$(readelf -n "$work/out/vmlinux" 2>/dev/null || true)
if ! grep -q 'Xen .*(0x00000012)' <<< "$notes"; then
  log "$release vmlinux has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY)"
  exit 1
fi

kdir=$work/root/lib/modules/$release/kernel
copy_modules() {
  local list=$1; shift
  : > "$work/out/$list"
  for m in "$@"; do
    f=$(find "$kdir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
    [ -n "$f" ] || { log "module $m not found in $pkg"; exit 1; }
    case "$f" in
      *.xz) xz -dc "$f" > "$work/out/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" > "$work/out/modules/$m.ko" ;;
      *) cp "$f" "$work/out/modules/$m.ko" ;;
    esac
    echo "$m" >> "$work/out/$list"
  done
}
copy_modules base.order "${BASE_MODULES[@]}"
copy_modules net.order "${NET_MODULES[@]}"

# Every dependency of a module must be loaded before it (the lists are in load order).
loaded=" "
for m in "${BASE_MODULES[@]}" "${NET_MODULES[@]}"; do
  deps=$(readelf -p .modinfo "$work/out/modules/$m.ko" | sed -n 's/.*depends=//p' | tr ',' ' ')
  for d in $deps; do
    case "$loaded" in *" $d "*) ;; *) log "module $m needs $d, which is not loaded before it"; exit 1 ;; esac
  done
  loaded="$loaded$m "
done

echo "$release" > "$work/out/kernel-version"
touch "$work/out/.complete"
rm -rf "$dir"
mv "$work/out" "$dir"
ln -sfn "$release" "$CACHE/current"
log "prepared $dir"
echo "$dir"
