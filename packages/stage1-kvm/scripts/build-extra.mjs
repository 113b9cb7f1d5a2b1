// Builds dist/stage1-kvm.aci after tools/build.mjs has bundled dist/stage1-kvm.mjs (cwd: the
// package directory). The image holds:
// - the bundle (run by the host's `node`) with the entrypoint symlinks and koffi's addon
//   (packages/stage1-kit/scripts/stage1-manifest.mjs, with the manifest);
// - kvm/pod-shim and the guest init, compiled here from native/ with `gcc -static`;
// - kvm/vmlinux and kvm/initrd (the init and the modules as a cpio newc archive), from the
//   kernel cache scripts/kvm-assets.sh prepares ($RKTNETES_KVM_ASSETS, default
//   /var/cache/rktnetes/kvm/current);
// - the built-in networks (etc/rkt/net.d) and CNI plugin (usr/lib/rkt/plugins/net/cni-bridge),
//   the same as stage1-coreos's (packages/pod-net/scripts/stage1-image.mjs).
// Without gcc or the kernel cache the image is still written, without those parts, and the
// run entrypoint says what is missing: a build must not need the network.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAci } from '../../../tools/make-aci.mjs';
import { podNetImageEntries } from '../../pod-net/scripts/stage1-image.mjs';
import { stage1Manifest, stage1ProgramEntries } from '../../stage1-kit/scripts/stage1-manifest.mjs';
import { cpioNewc } from './cpio.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const assets = join(process.env.RKTNETES_KVM_ASSETS ?? '/var/cache/rktnetes/kvm', 'current');

const ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'];
// Every flag up to version 6 is accepted (rkt's kvm flavor declares 6 too); no app/* entrypoints.
const INTERFACE_VERSION = '6';

const warn = (m) => process.stderr.write(`stage1-kvm build: warning: ${m}\n`);

function compile(source, out) {
  try {
    execFileSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    return true;
  } catch (e) {
    if (e.code === 'ENOENT') {
      warn(`gcc not found: ${out} not built`);
      return false;
    }
    throw e;
  }
}

const haveShim = compile('native/shim.c', 'dist/pod-shim');
const haveInit = compile('native/init.c', 'dist/init');
const haveKernel = existsSync(join(assets, '.complete'));
if (!haveKernel) warn(`no guest kernel in ${assets}: run scripts/kvm-assets.sh, then rebuild (the image is written without kernel and initramfs)`);

const vmEntries = [];
if (haveShim) vmEntries.push({ path: 'kvm/pod-shim', source: 'dist/pod-shim', mode: 0o755 });
if (haveKernel && haveInit) {
  const modules = readdirSync(join(assets, 'modules')).filter((f) => f.endsWith('.ko')).sort();
  const initrd = cpioNewc([
    ...['dev', 'proc', 'sys', 'pod', 'lib', 'lib/modules'].map((d) => ({ path: d, type: 'dir' })),
    // the kernel opens /dev/console for init before anything is mounted
    { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    { path: 'init', content: readFileSync('dist/init'), mode: 0o755 },
    { path: 'lib/modules/base.order', content: readFileSync(join(assets, 'base.order')) },
    { path: 'lib/modules/net.order', content: readFileSync(join(assets, 'net.order')) },
    ...modules.map((m) => ({ path: `lib/modules/${m}`, content: readFileSync(join(assets, 'modules', m)) })),
  ]);
  writeFileSync('dist/initrd', initrd);
  vmEntries.push(
    { path: 'kvm/vmlinux', source: join(assets, 'vmlinux'), mode: 0o644 },
    { path: 'kvm/initrd', source: 'dist/initrd', mode: 0o644 },
    { path: 'kvm/kernel-version', source: join(assets, 'kernel-version'), mode: 0o644 },
  );
}

const manifest = stage1Manifest({ name: 'coreos.com/rkt/stage1-kvm', version: pkg.version, entrypoints: ENTRYPOINTS, interfaceVersion: INTERFACE_VERSION });

await makeAci('dist/stage1-kvm.aci', manifest, [...stage1ProgramEntries({ program: 'stage1-kvm', entrypoints: ENTRYPOINTS }), ...vmEntries, ...podNetImageEntries()]);
