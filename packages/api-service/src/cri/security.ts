/**
 * The per-container security settings of the CRI (`linux.security_context`) as `rkt app add`
 * flags: seccomp profile, no_new_privs, masked and read-only paths, and what `privileged` lifts.
 * Capabilities, users and groups are mapped in containers.ts.
 */
import { isAbsolute } from 'node:path';
import { invalidArgument } from './grpc';
import type { LinuxContainerSecurityContext } from './messages';

/** The `--insecure-options` of `rkt app add` that make a container privileged (its app only). */
export const PRIVILEGED_INSECURE_OPTIONS: readonly string[] = ['capabilities', 'paths', 'seccomp'];

/** A security context as decoded, with the deprecated profile path. */
type SecurityContext = LinuxContainerSecurityContext & { seccomp_profile_path?: string };

function profileFile(ref: string): string {
  if (!isAbsolute(ref)) throw invalidArgument(`seccomp localhost profile ${JSON.stringify(ref)} must be an absolute path`);
  return `--seccomp=profile=${ref}`;
}

/**
 * The `--seccomp` flag of a container, as the CRI defines its profiles: `Unconfined` and a
 * missing profile (no `seccomp`, an empty `seccomp_profile_path`) are no filter
 * (`--seccomp=unconfined`); `RuntimeDefault` is stage1's default filter (no flag); `Localhost`
 * is the profile file at `localhost_ref`, an absolute host path (`--seccomp=profile=PATH`, read
 * by rkt). The deprecated `seccomp_profile_path` is honoured when `seccomp` is not set
 * (`unconfined`, `runtime/default`, `docker/default`, `localhost/<path>`). A privileged
 * container gets no filter whatever it asks for. INVALID_ARGUMENT for a relative Localhost path
 * or an unknown profile path.
 */
export function seccompFlags(sc: SecurityContext | null | undefined): string[] {
  if (sc?.privileged) return ['--seccomp=unconfined'];
  const p = sc?.seccomp;
  if (p) {
    if (p.profile_type === 'RuntimeDefault') return [];
    if (p.profile_type === 'Localhost') return [profileFile(p.localhost_ref ?? '')];
    return ['--seccomp=unconfined'];
  }
  const path = sc?.seccomp_profile_path ?? '';
  if (path === '' || path === 'unconfined') return ['--seccomp=unconfined'];
  if (path === 'runtime/default' || path === 'docker/default') return [];
  if (path.startsWith('localhost/')) return [profileFile(path.slice('localhost'.length))];
  throw invalidArgument(`unknown seccomp profile ${JSON.stringify(path)}`);
}

function pathList(flag: string, paths: readonly string[]): string {
  for (const p of paths) {
    if (!isAbsolute(p)) throw invalidArgument(`${flag} path ${JSON.stringify(p)} must be absolute`);
    if (p.includes(',')) throw invalidArgument(`${flag} path ${JSON.stringify(p)}: commas are not supported`);
  }
  return `--${flag}=${paths.join(',')}`;
}

/**
 * The flags of the security context besides capabilities and identity:
 * `--no-new-privileges=<no_new_privs>` (always explicit, so stage1 sets no_new_privs only when
 * asked), the seccomp flag ({@link seccompFlags}), and for a container that is not privileged
 * `--masked-paths` / `--readonly-paths` when the lists are given (the kubelet sends its
 * defaults; empty lists keep stage1's own). A privileged container gets no masked or read-only
 * paths: see {@link insecureOptionsFor}.
 */
export function securityFlags(sc: SecurityContext | null | undefined): string[] {
  const out = [`--no-new-privileges=${sc?.no_new_privs ? 'true' : 'false'}`, ...seccompFlags(sc)];
  if (sc && !sc.privileged) {
    if (sc.masked_paths?.length) out.push(pathList('masked-paths', sc.masked_paths));
    if (sc.readonly_paths?.length) out.push(pathList('readonly-paths', sc.readonly_paths));
  }
  return out;
}

/**
 * The `--insecure-options` of a container's `rkt app add`: the server's, plus for a privileged
 * container `capabilities,paths,seccomp`, which make stage1 give that app every capability, no
 * seccomp filter, no masked or read-only paths and no device restriction (its /dev stays the
 * pod's: host devices are not passed in). Undefined: the server's own.
 */
export function insecureOptionsFor(sc: SecurityContext | null | undefined, server: readonly string[] | undefined): string[] | undefined {
  if (!sc?.privileged) return undefined;
  return [...new Set([...(server ?? []), ...PRIVILEGED_INSECURE_OPTIONS])];
}
