/**
 * Deliberately broken manifests for negative tests, each tagged with the JSON path of the
 * problem a validator must report first. Every case starts from the spec's example manifest
 * and breaks exactly one thing.
 */
import { exampleImageManifest, examplePodManifest, fakeImageID } from './builders';

/** One broken manifest. */
export interface InvalidCase {
  /** what is wrong, for test titles */
  name: string;
  /** JSON path of the first issue the validator must report ('' for the root) */
  path: string;
  /** the broken document (a JSON value, not necessarily an object) */
  manifest: unknown;
}

// the cases poke at arbitrary fields of a cloned JSON document
type Json = Record<string, any>;

function mutate(base: () => unknown, name: string, path: string, change: (m: Json) => unknown): InvalidCase {
  const m = structuredClone(base()) as Json;
  const replaced = change(m);
  return { name, path, manifest: replaced === undefined ? m : replaced };
}

const iso = (name: string, value: unknown) => ({ name, value });

/** Broken image manifests, one problem each (see {@link InvalidCase}). */
export function invalidImageManifests(): InvalidCase[] {
  const im = (name: string, path: string, change: (m: Json) => unknown) => mutate(exampleImageManifest, name, path, change);
  const isolators = (name: string, path: string, list: unknown[]) =>
    im(name, path, (m) => {
      m.app.isolators = list;
    });
  return [
    im('not an object', '', () => ['ImageManifest']),
    im('null document', '', () => null),
    im('wrong acKind', 'acKind', (m) => void (m.acKind = 'PodManifest')),
    im('missing acKind', 'acKind', (m) => void delete m.acKind),
    im('acKind not a string', 'acKind', (m) => void (m.acKind = 5)),
    im('acVersion not semver', 'acVersion', (m) => void (m.acVersion = 'latest')),
    im('zero acVersion', 'acVersion', (m) => void (m.acVersion = '0.0.0')),
    im('uppercase name', 'name', (m) => void (m.name = 'Example.com/Reduce-Worker')),
    im('name ending with a slash', 'name', (m) => void (m.name = 'example.com/reduce-worker/')),
    im('empty name', 'name', (m) => void (m.name = '')),
    im('name not a string', 'name', (m) => void (m.name = ['example.com/x'])),
    im('label named "name"', 'labels[3].name', (m) => void m.labels.push({ name: 'name', value: 'x' })),
    im('duplicate label', 'labels[3].name', (m) => void m.labels.push({ name: 'version', value: '2.0.0' })),
    im('non-string label value', 'labels[0].value', (m) => void (m.labels[0].value = 1)),
    im('bad label name', 'labels[0].name', (m) => void (m.labels[0].name = 'Version')),
    im('arch not valid for os', 'labels[1].value', (m) => void (m.labels[1].value = 'x86_64')),
    im('unknown os', 'labels[2].value', (m) => void (m.labels[2].value = 'plan9')),
    im('labels not an array', 'labels', (m) => void (m.labels = { os: 'linux' })),
    im('app not an object', 'app', (m) => void (m.app = '/bin/sh')),
    im('empty executable', 'app.exec[0]', (m) => void (m.app.exec = ['', '--quiet'])),
    im('exec not an array', 'app.exec', (m) => void (m.app.exec = '/usr/bin/reduce-worker --quiet')),
    im('exec argument not a string', 'app.exec[1]', (m) => void (m.app.exec = ['/bin/sh', 42])),
    im('missing user', 'app.user', (m) => void delete m.app.user),
    im('empty group', 'app.group', (m) => void (m.app.group = '')),
    im('numeric user', 'app.user', (m) => void (m.app.user = 100)),
    im('relative working directory', 'app.workingDirectory', (m) => void (m.app.workingDirectory = 'opt/work')),
    im('bad environment name', 'app.environment[0].name', (m) => void (m.app.environment[0].name = '1DEBUG')),
    im('duplicate environment variable', 'app.environment[1].name', (m) =>
      void m.app.environment.push({ name: 'REDUCE_WORKER_DEBUG', value: 'false' }),
    ),
    im('environment value not a string', 'app.environment[0].value', (m) => void (m.app.environment[0].value = true)),
    im('unknown event handler', 'app.eventHandlers[0].name', (m) => void (m.app.eventHandlers[0].name = 'on-start')),
    im('duplicate event handler', 'app.eventHandlers[1].name', (m) => void (m.app.eventHandlers[1].name = 'pre-start')),
    isolators('memory limit not a quantity', 'app.isolators[0].value.limit', [iso('resource/memory', { limit: 'lots' })]),
    isolators('huge memory limit', 'app.isolators[0].value.limit', [iso('resource/memory', { limit: '100000Ei' })]),
    isolators('memory limit with a huge exponent', 'app.isolators[0].value.limit', [iso('resource/memory', { limit: '1e999' })]),
    isolators('negative cpu request', 'app.isolators[0].value.request', [iso('resource/cpu', { request: '-1' })]),
    isolators('cpu request above limit', 'app.isolators[0].value.request', [iso('resource/cpu', { request: '2', limit: '1' })]),
    isolators('memory isolator with default true', 'app.isolators[0].value.default', [
      iso('resource/memory', { default: true, limit: '1G' }),
    ]),
    isolators('network bandwidth without default', 'app.isolators[0].value.default', [
      iso('resource/network-bandwidth', { limit: '1M' }),
    ]),
    isolators('memory value not an object', 'app.isolators[0].value', [iso('resource/memory', '1G')]),
    isolators('cpu shares below range', 'app.isolators[0].value', [iso('os/linux/cpu-shares', 1)]),
    isolators('huge oom score adj', 'app.isolators[0].value', [iso('os/linux/oom-score-adj', 5000)]),
    isolators('no-new-privileges not a boolean', 'app.isolators[0].value', [iso('os/linux/no-new-privileges', 'yes')]),
    isolators('empty capability set', 'app.isolators[0].value.set', [iso('os/linux/capabilities-retain-set', { set: [] })]),
    isolators('capability without CAP_ prefix', 'app.isolators[0].value.set[0]', [
      iso('os/linux/capabilities-remove-set', { set: ['NET_ADMIN'] }),
    ]),
    isolators('capability retain and remove sets together', 'app.isolators[1].name', [
      iso('os/linux/capabilities-retain-set', { set: ['CAP_NET_ADMIN'] }),
      iso('os/linux/capabilities-remove-set', { set: ['CAP_MKNOD'] }),
    ]),
    isolators('seccomp retain and remove sets together', 'app.isolators[1].name', [
      iso('os/linux/seccomp-retain-set', { set: ['read', 'write'] }),
      iso('os/linux/seccomp-remove-set', { set: ['reboot'] }),
    ]),
    isolators('two seccomp remove sets', 'app.isolators[1].name', [
      iso('os/linux/seccomp-remove-set', { set: ['reboot'] }),
      iso('os/linux/seccomp-remove-set', { set: ['kexec_load'] }),
    ]),
    isolators('lowercase errno', 'app.isolators[0].value.errno', [
      iso('os/linux/seccomp-remove-set', { set: ['reboot'], errno: 'eperm' }),
    ]),
    isolators('bad syscall name', 'app.isolators[0].value.set[1]', [
      iso('os/linux/seccomp-retain-set', { set: ['read', 'Write!'] }),
    ]),
    isolators('bad isolator name', 'app.isolators[0].name', [iso('Resource/Memory', { limit: '1G' })]),
    isolators('known isolator without value', 'app.isolators[0].value', [{ name: 'resource/memory' }]),
    isolators('isolators not an array', 'app.isolators', { name: 'resource/memory' } as unknown as unknown[]),
    im('port out of range', 'app.ports[0].port', (m) => void (m.app.ports[0].port = 70000)),
    im('port zero', 'app.ports[0].port', (m) => void (m.app.ports[0].port = 0)),
    im('fractional port', 'app.ports[0].port', (m) => void (m.app.ports[0].port = 80.5)),
    im('port range beyond 65535', 'app.ports[1].count', (m) => void (m.app.ports[1].port = 65000)),
    im('port without protocol', 'app.ports[0].protocol', (m) => void delete m.app.ports[0].protocol),
    im('duplicate port names', 'app.ports[1].name', (m) => void (m.app.ports[1].name = 'health')),
    im('socketActivated not a boolean', 'app.ports[0].socketActivated', (m) => void (m.app.ports[0].socketActivated = 'true')),
    im('bad mount point name', 'app.mountPoints[0].name', (m) => void (m.app.mountPoints[0].name = 'work_dir')),
    im('mount point without path', 'app.mountPoints[0].path', (m) => void delete m.app.mountPoints[0].path),
    im('mount point readOnly not a boolean', 'app.mountPoints[0].readOnly', (m) => void (m.app.mountPoints[0].readOnly = 0)),
    im('negative supplementary gid', 'app.supplementaryGIDs[0]', (m) => void (m.app.supplementaryGIDs = [-1])),
    im('huge supplementary gid', 'app.supplementaryGIDs[1]', (m) => void (m.app.supplementaryGIDs = [1, 2 ** 40])),
    im('non-string user annotation', 'app.userAnnotations.owner', (m) => void (m.app.userAnnotations = { owner: 7 })),
    im('dependency with a sha256 id', 'dependencies[0].imageID', (m) => void (m.dependencies[0].imageID = 'sha256-abcd')),
    im('dependency with a truncated id', 'dependencies[0].imageID', (m) =>
      void (m.dependencies[0].imageID = fakeImageID('x').slice(0, 20)),
    ),
    im('huge dependency size', 'dependencies[0].size', (m) => void (m.dependencies[0].size = 1e300)),
    im('negative dependency size', 'dependencies[0].size', (m) => void (m.dependencies[0].size = -1)),
    im('dependency without image name', 'dependencies[0].imageName', (m) => void delete m.dependencies[0].imageName),
    im('relative path in whitelist', 'pathWhitelist[0]', (m) => void (m.pathWhitelist[0] = 'etc/ca')),
    im('duplicate annotation', 'annotations[5].name', (m) => void m.annotations.push({ name: 'authors', value: 'x' })),
    im('created not a timestamp', 'annotations[1].value', (m) => void (m.annotations[1].value = 'yesterday')),
    im('homepage not http', 'annotations[3].value', (m) => void (m.annotations[3].value = 'ftp://example.com')),
    im('annotation value not a string', 'annotations[0].value', (m) => void (m.annotations[0].value = { a: 1 })),
  ];
}

/** Broken pod manifests, one problem each (see {@link InvalidCase}). */
export function invalidPodManifests(): InvalidCase[] {
  const pm = (name: string, path: string, change: (m: Json) => unknown) => mutate(examplePodManifest, name, path, change);
  return [
    pm('not an object', '', () => 42),
    pm('wrong acKind', 'acKind', (m) => void (m.acKind = 'ImageManifest')),
    pm('acVersion too short', 'acVersion', (m) => void (m.acVersion = '0.8')),
    pm('missing apps', 'apps', (m) => void delete m.apps),
    pm('apps not an array', 'apps', (m) => void (m.apps = { 'reduce-worker': {} })),
    pm('duplicate app names', 'apps[1].name', (m) => void (m.apps[1].name = 'reduce-worker')),
    pm('app name with a dot', 'apps[0].name', (m) => void (m.apps[0].name = 'reduce.worker')),
    pm('uppercase app name', 'apps[2].name', (m) => void (m.apps[2].name = 'Register')),
    pm('app without image', 'apps[2].image', (m) => void delete m.apps[2].image),
    pm('image without id', 'apps[0].image.id', (m) => void delete m.apps[0].image.id),
    pm('image id prefix only', 'apps[0].image.id', (m) => void (m.apps[0].image.id = 'sha512-abc')),
    pm('image id uppercase hex', 'apps[0].image.id', (m) => void (m.apps[0].image.id = m.apps[0].image.id.toUpperCase())),
    pm('bad image name', 'apps[0].image.name', (m) => void (m.apps[0].image.name = 'example.com/x/')),
    pm('readOnlyRootFS not a boolean', 'apps[0].readOnlyRootFS', (m) => void (m.apps[0].readOnlyRootFS = 'yes')),
    pm('app override with empty exec', 'apps[0].app.exec[0]', (m) => void (m.apps[0].app.exec[0] = '')),
    pm('app override without user', 'apps[1].app.user', (m) => void delete m.apps[1].app.user),
    pm('duplicate app annotations', 'apps[1].annotations[1].name', (m) =>
      void m.apps[1].annotations.push({ name: 'foo', value: 'bar' }),
    ),
    pm('mount of an unknown volume', 'apps[0].mounts[0].volume', (m) => void (m.apps[0].mounts[0].volume = 'nope')),
    pm('mount without path', 'apps[1].mounts[0].path', (m) => void delete m.apps[1].mounts[0].path),
    pm('bad appVolume', 'apps[0].mounts[0].appVolume.kind', (m) =>
      void (m.apps[0].mounts[0].appVolume = { name: 'scratch', kind: 'tmpfs' }),
    ),
    pm('unknown volume kind', 'volumes[0].kind', (m) => void (m.volumes[0].kind = 'tmpfs')),
    pm('relative host source', 'volumes[0].source', (m) => void (m.volumes[0].source = 'opt/work')),
    pm('host volume without source', 'volumes[0].source', (m) => void delete m.volumes[0].source),
    pm('empty volume with source', 'volumes[0].source', (m) => void (m.volumes[0].kind = 'empty')),
    pm('host volume with mode', 'volumes[0].mode', (m) => void (m.volumes[0].mode = '0700')),
    pm('bad mode', 'volumes[0].mode', (m) =>
      void (m.volumes[0] = { name: 'worklib', kind: 'empty', mode: '999' }),
    ),
    pm('negative uid', 'volumes[0].uid', (m) => void (m.volumes[0] = { name: 'worklib', kind: 'empty', uid: -1 })),
    pm('duplicate volume names', 'volumes[1].name', (m) => void m.volumes.push({ name: 'worklib', kind: 'empty' })),
    pm('host port zero', 'ports[0].hostPort', (m) => void (m.ports[0].hostPort = 0)),
    pm('huge host port', 'ports[0].hostPort', (m) => void (m.ports[0].hostPort = 2 ** 53)),
    pm('IPv6 host IP', 'ports[0].hostIP', (m) => void (m.ports[0].hostIP = '::1')),
    pm('duplicate exposed ports', 'ports[1].name', (m) => void m.ports.push({ name: 'ftp', hostPort: 2122 })),
    pm('bad podPort', 'ports[0].podPort.port', (m) =>
      void (m.ports[0].podPort = { name: 'ftp', protocol: 'tcp', port: 99999 }),
    ),
    pm('pod oom score adj out of range', 'isolators[0].value', (m) => void (m.isolators = [iso('os/linux/oom-score-adj', 5000)])),
    pm('pod memory limit malformed', 'isolators[0].value.limit', (m) => void (m.isolators[0].value.limit = '4 GB')),
    pm('two sysctl isolators', 'isolators[1].name', (m) =>
      void (m.isolators = [iso('os/unix/sysctl', { 'net.ipv4.ip_forward': '1' }), iso('os/unix/sysctl', {})]),
    ),
    pm('non-string user label', 'userLabels.team', (m) => void (m.userLabels = { team: ['a'] })),
    pm('non-string pod annotation', 'annotations[0].value', (m) => void (m.annotations[0].value = 10)),
  ];
}
