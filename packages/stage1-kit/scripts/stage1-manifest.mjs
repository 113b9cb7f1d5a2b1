// The stage1 image of a flavor, for its build step (scripts/build-extra.mjs, run by node after
// tools/build.mjs has bundled the program): the image manifest (name, labels, an annotation per
// entrypoint, the interface version) and the rootfs entries of the program itself (the bundle,
// the entrypoint links to it, koffi's addon), as tools/make-aci.mjs takes them.
//
// Plain JavaScript: build scripts run without a TypeScript loader. Contract:
// docs/stage1-interface.md (Stage1 image).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bundleCompanions } from '../../../tools/make-aci.mjs';

/** What every stage1 annotation name starts with. */
export const STAGE1_ANNOTATION_PREFIX = 'coreos.com/rkt/stage1/';

/** The appc version of the manifests written here. */
export const STAGE1_AC_VERSION = '0.8.11';

/** The appc `arch` label of a Node `process.arch`. */
export const appcArch = (arch = process.arch) => ({ x64: 'amd64', ia32: 'i386', arm64: 'aarch64', arm: 'armv7l' })[arch] ?? arch;

/**
 * The file name in the rootfs of an entrypoint: its annotation name with `/` as `_`
 * (`run` -> `run`, `app/add` -> `app_add`), linked to the program.
 */
export const entrypointFile = (entrypoint) => entrypoint.replaceAll('/', '_');

/**
 * The image manifest of a stage1 image.
 *
 * @param {object} o
 * @param {string} o.name the image name (`coreos.com/rkt/stage1-fly`)
 * @param {string} o.version the `version` label (the package's version)
 * @param {readonly string[]} o.entrypoints the entrypoints, by annotation name (`run`, `app/add`), in manifest order;
 *   each is annotated `coreos.com/rkt/stage1/<entrypoint>` = `/<entrypointFile(entrypoint)>`
 * @param {string} o.interfaceVersion the `coreos.com/rkt/stage1/interface-version` annotation, last
 * @param {string} [o.arch] the `arch` label (default: this machine's, `amd64` on x64)
 * @param {string} [o.os] the `os` label (default `linux`)
 * @returns {object} an appc ImageManifest
 */
export function stage1Manifest({ name, version, entrypoints, interfaceVersion, arch = appcArch(), os = 'linux' }) {
  const annotation = (n, value) => ({ name: `${STAGE1_ANNOTATION_PREFIX}${n}`, value });
  return {
    acKind: 'ImageManifest',
    acVersion: STAGE1_AC_VERSION,
    name,
    labels: [
      { name: 'version', value: version },
      { name: 'arch', value: arch },
      { name: 'os', value: os },
    ],
    annotations: [...entrypoints.map((ep) => annotation(ep, `/${entrypointFile(ep)}`)), annotation('interface-version', interfaceVersion)],
  };
}

/** The files of koffi a bundle that keeps it external loads from `node_modules/koffi/`. */
const KOFFI_FILES = ['package.json', 'index.js', 'LICENSE.txt'];

/**
 * The rootfs entries of koffi for this machine (`node_modules/koffi/...`, the addon
 * `build/koffi/<platform>_<arch>/koffi.node`), resolved from the package in `pkgDir`.
 *
 * @param {string} [pkgDir] the flavor's package directory (default: the working directory)
 */
export function koffiEntries(pkgDir = process.cwd()) {
  const require = createRequire(join(pkgDir, 'package.json'));
  const koffiDir = dirname(require.resolve('koffi/package.json'));
  const addon = `build/koffi/${process.platform}_${process.arch}/koffi.node`;
  return [
    ...KOFFI_FILES.map((f) => ({ path: `node_modules/koffi/${f}`, source: join(koffiDir, f), mode: 0o644 })),
    { path: `node_modules/koffi/${addon}`, source: join(koffiDir, addon), mode: 0o755 },
  ];
}

/**
 * The rootfs entries of a stage1 program bundled by tools/build.mjs: `<program>.mjs` (mode 755),
 * its companions (the `.cjs` bundle and its code cache), a symlink to it per entrypoint
 * (`/run`, `/app_add`, ...) and koffi.
 *
 * @param {object} o
 * @param {string} o.program the program name (`stage1-fly`): the bundle is `dist/<program>.mjs`
 * @param {readonly string[]} o.entrypoints by annotation name, as for {@link stage1Manifest}
 * @param {string | Buffer} [o.content] the executable's content, when not the bundle's file as it is
 * @param {string} [o.pkgDir] where koffi is resolved from (default: the working directory)
 */
export function stage1ProgramEntries({ program, entrypoints, content, pkgDir }) {
  const bundle = `dist/${program}.mjs`;
  const executable = `${program}.mjs`;
  return [
    content === undefined ? { path: executable, source: bundle, mode: 0o755 } : { path: executable, content, mode: 0o755 },
    ...bundleCompanions(bundle),
    ...entrypoints.map((ep) => ({ path: entrypointFile(ep), type: 'symlink', target: executable })),
    ...koffiEntries(pkgDir),
  ];
}
