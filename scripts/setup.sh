#!/usr/bin/env bash
# Installs everything rktnetes and its tests need on a Debian 12 machine, idempotently:
# Debian packages (when running as root and any is missing), npm dependencies and the build.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the runtime and its tests use at run time, and the peers the benchmarks compare with.
PACKAGES=(
  busybox-static gnupg iproute2 iptables util-linux bzip2 xz-utils zstd procps
  containernetworking-plugins docker-registry skopeo umoci runc crun systemd-container
  qemu-system-x86 qemu-utils apache2-utils curl ca-certificates make gcc g++ libc6-dev python3
  openssl iputils-ping attr containerd
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The registry is started by tests with their own config, containerd only by the CRI
    # benchmark with its own; the distro services are not wanted.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now docker-registry containerd 2>/dev/null || true; fi
    pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry' 2>/dev/null || true
  fi
fi

# npm dependencies: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.rktnetes-install-stamp
lock_sum=$(sha256sum package-lock.json package.json packages/*/package.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

# The kvm stage1's guest kernel and initramfs inputs (apt-get download + dpkg-deb -x, cached);
# the stage1-kvm image carries the kernel only when it exists at build time.
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/kvm-assets.sh >/dev/null || echo "setup: kvm guest kernel not prepared (stage1-kvm VM tests will be skipped)" >&2
fi

if [ "${1:-}" != "--no-build" ]; then
  echo "setup: build" >&2
  NX_DAEMON=false NX_NO_CLOUD=true npx nx run-many -t build --output-style=static --skip-nx-cache >/dev/null
fi
