/**
 * Signatures made by Debian's `gpg` CLI in a throwaway GNUPGHOME, so tests can prove that
 * signatures from the tool users actually run verify in rktnetes.
 */
import { chmod } from 'node:fs/promises';
import { systemError } from '@rktnetes/errors';
import { hasTool } from './compress';
import { runCommand, runCommandOk } from './exec';
import { removeTree, tmpDir, type Teardownable } from './tmp';

/** Key algorithms for {@link createGpgSigner}: gpg's own default (rsa3072 in 2.2), rsa2048 or ed25519. */
export type GpgAlgo = 'default' | 'rsa2048' | 'ed25519';

/** Options of {@link createGpgSigner}. */
export interface GpgSignerOptions {
  /** default 'rktnetes gpg test' */
  name?: string;
  /** default 'gpg@example.com' */
  email?: string;
  /** default 'rsa2048' */
  algo?: GpgAlgo;
  /** with ava's `t`, {@link GpgSigner.close} runs at teardown */
  t?: Teardownable;
}

/** A gpg key in a private GNUPGHOME that can sign. */
export interface GpgSigner {
  /** the temporary GNUPGHOME */
  home: string;
  armoredPublic: string;
  /** lowercase hex */
  fingerprint: string;
  /** an ascii-armored detached signature of `data` (`gpg --armor --detach-sign`) */
  sign(data: Buffer | string): Promise<string>;
  /** kills the gpg-agent of the home and removes it; idempotent */
  close(): Promise<void>;
}

/** Whether `gpg` and `gpgconf` are installed. */
export function hasGpg(): boolean {
  return hasTool('gpg') && hasTool('gpgconf');
}

const BATCH = ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];

/**
 * Generates a passphrase-less key with `gpg --quick-gen-key` in a fresh GNUPGHOME. Call
 * `close()` (or pass `t`) so the gpg-agent it started is killed.
 *
 * @throws RktError `testkit.tool-missing` without gpg, `testkit.exec` when gpg fails
 */
export async function createGpgSigner(opts: GpgSignerOptions = {}): Promise<GpgSigner> {
  if (!hasGpg()) throw systemError('testkit.tool-missing', 'gpg not found on PATH (apt-get install gnupg)');
  const home = await tmpDir('gnupg');
  await chmod(home, 0o700);
  const env = { ...process.env, GNUPGHOME: home };
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await runCommand('gpgconf', ['--kill', 'all'], { env }).catch(() => undefined);
    await removeTree(home);
  };
  if (opts.t) opts.t.teardown(close);
  try {
    const uid = `${opts.name ?? 'rktnetes gpg test'} <${opts.email ?? 'gpg@example.com'}>`;
    const algo = opts.algo ?? 'rsa2048';
    const [keyAlgo, usage] = algo === 'ed25519' ? ['ed25519', 'sign'] : [algo, 'default'];
    await runCommandOk('gpg', [...BATCH, '--quick-gen-key', uid, keyAlgo, usage, 'never'], { env });
    const listed = await runCommandOk('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env });
    const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]+):/m.exec(listed.stdout)?.[1];
    if (!fpr) throw systemError('testkit.exec', `gpg listed no fingerprint for ${uid}`);
    const exported = await runCommandOk('gpg', ['--batch', '--armor', '--export', fpr], { env });
    return {
      home,
      armoredPublic: exported.stdout,
      fingerprint: fpr.toLowerCase(),
      sign: async (data) => {
        const r = await runCommandOk(
          'gpg',
          [...BATCH, '--digest-algo', 'SHA256', '--local-user', fpr, '--armor', '--detach-sign', '--output', '-'],
          { env, input: Buffer.from(data) },
        );
        return r.stdout;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Result of {@link gpgSign}. */
export interface GpgSignature {
  armoredPublic: string;
  fingerprint: string;
  /** the armored detached signature */
  signature: string;
}

/** Generates a throwaway gpg key, signs `data` with it and cleans up. */
export async function gpgSign(data: Buffer | string, opts: Omit<GpgSignerOptions, 't'> = {}): Promise<GpgSignature> {
  const signer = await createGpgSigner(opts);
  try {
    const signature = await signer.sign(data);
    return { armoredPublic: signer.armoredPublic, fingerprint: signer.fingerprint, signature };
  } finally {
    await signer.close();
  }
}
