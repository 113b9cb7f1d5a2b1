/**
 * Adding trusted keys (what `rkt trust` does, and what a fetch by name does when no key is
 * trusted for the image yet): get every key first (file, http(s) URL), show its fingerprint
 * and user IDs, have it accepted, then write it to the local keystore. Nothing is written when
 * any key cannot be read.
 */
import { readFileSync } from 'node:fs';
import { systemError, userError } from '@rktnetes/errors';
import { httpRequest, readBody, statusError, type HttpClientOptions } from '../fetch/http';
import type { Keystore } from './keystore';
import { formatFingerprint, readPublicKeys, type KeyInfo } from './pgp';

/** How keys are accepted: after the user confirmed each, or without asking. */
export type AcceptMode = 'ask' | 'force';

/** The terminal the fingerprint review happens on. */
export interface ReviewIO {
  /** prints a line for the user (stdout) */
  print(line: string): void;
  /** whether a question can be asked (stdin and stderr are terminals) */
  interactive: boolean;
  /** asks a question and reads the answer line */
  ask(question: string): Promise<string>;
}

/** What {@link addTrustedKeys} needs. */
export interface AddKeysOptions {
  /** the prefix the keys are trusted for; undefined for root keys */
  prefix: string | undefined;
  /** key files or http(s) URLs */
  locations: readonly string[];
  accept: AcceptMode;
  /** keys fetched over https are accepted without asking (`--trust-keys-from-https`) */
  trustKeysFromHttps: boolean;
  /** plain http key URLs are allowed (`--insecure-allow-http`) */
  allowHttp: boolean;
  client: HttpClientOptions;
  io: ReviewIO;
}

const MAX_KEY = 1 << 20;

/** A key file's contents and where it came from. */
export interface FetchedKeys {
  location: string;
  https: boolean;
  keys: KeyInfo[];
}

/**
 * Reads the keys at `location`: a path, `file://`, or an http(s) URL.
 *
 * @throws RktError `trust.not-a-key`, `trust.no-key-file`, `fetch.*`
 */
export async function fetchKeys(location: string, opts: Pick<AddKeysOptions, 'allowHttp' | 'client'>): Promise<FetchedKeys> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  let data: Buffer;
  if (scheme === undefined || scheme === 'file') {
    const path = scheme === 'file' ? decodeURIComponent(new URL(location).pathname) : location;
    try {
      data = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw userError('trust.no-key-file', `cannot read key ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`, { cause: e });
    }
  } else if (scheme === 'http' || scheme === 'https') {
    if (scheme === 'http' && !opts.allowHttp) {
      throw userError('fetch.insecure-http', `refusing to fetch key ${location} over plain http; use --insecure-allow-http`);
    }
    const what = `key ${location}`;
    const res = await httpRequest({ ...opts.client, allowHttp: opts.allowHttp }, 'GET', new URL(location), {}, what);
    if (res.status !== 200) throw statusError(what, res);
    data = await readBody(res, MAX_KEY, what, opts.client.timeoutMs);
  } else {
    throw userError('trust.no-key-file', `cannot fetch key ${location}: only files and http(s) URLs are supported`);
  }
  return { location, https: scheme === 'https', keys: await readPublicKeys(data, `key ${location}`) };
}

/** The lines `rkt trust` shows for review. */
export function describeKeys(prefix: string | undefined, fetched: FetchedKeys): string[] {
  const lines = [`Prefix: "${prefix ?? ''}"`, `Key: "${fetched.location}"`];
  for (const k of fetched.keys) {
    lines.push(`GPG key fingerprint is: ${formatFingerprint(k.fingerprint)}`);
    for (const sub of k.subkeyFingerprints) lines.push(`    Subkey fingerprint: ${formatFingerprint(sub)}`);
    for (const uid of k.userIds) lines.push(`\t${uid}`);
  }
  return lines;
}

/** Asks until the answer is yes or no; an empty answer is no. */
async function review(io: ReviewIO): Promise<boolean> {
  for (;;) {
    const answer = (await io.ask('Are you sure you want to trust this key (yes/no)? ')).trim().toLowerCase();
    if (answer === 'yes' || answer === 'y') return true;
    if (answer === 'no' || answer === 'n' || answer === '') return false;
    io.print("Please enter 'yes' or 'no'");
  }
}

/** The keys added, by location. */
export interface AddedKey {
  location: string;
  fingerprint: string;
  path: string;
}

/**
 * Fetches every key, then reviews and stores them. Returns what was written (keys the user
 * declined are skipped).
 *
 * @throws RktError `trust.review-needed` when a key must be reviewed and there is no terminal,
 *   and the errors of {@link fetchKeys} (before anything is written)
 */
export async function addTrustedKeys(ks: Keystore, opts: AddKeysOptions): Promise<AddedKey[]> {
  const fetched: FetchedKeys[] = [];
  for (const location of opts.locations) fetched.push(await fetchKeys(location, opts));
  const what = opts.prefix === undefined ? 'as a root key' : `for prefix "${opts.prefix}"`;
  const added: AddedKey[] = [];
  for (const f of fetched) {
    for (const line of describeKeys(opts.prefix, f)) opts.io.print(line);
    const force = opts.accept === 'force' || (opts.trustKeysFromHttps && f.https);
    if (!force) {
      if (!opts.io.interactive) {
        throw userError(
          'trust.review-needed',
          `cannot ask to review the fingerprint of key ${f.location}: not a terminal; use --skip-fingerprint-review${opts.prefix ? ` (or --trust-keys-from-https for https keys)` : ''}`,
        );
      }
      if (!(await review(opts.io))) {
        opts.io.print(`Not trusting "${f.location}"`);
        continue;
      }
      opts.io.print(`Trusting "${f.location}" ${what} after fingerprint review.`);
    } else {
      opts.io.print(`Trusting "${f.location}" ${what} without fingerprint review.`);
    }
    for (const key of f.keys) {
      const path = ks.storeTrustedKey(opts.prefix, key);
      opts.io.print(opts.prefix === undefined ? `Added root key at "${path}"` : `Added key for prefix "${opts.prefix}" at "${path}"`);
      added.push({ location: f.location, fingerprint: key.fingerprint, path });
    }
  }
  return added;
}

/** A {@link ReviewIO} on the process's terminal, printing to `out` (stdout by default). */
export function processReviewIO(out: NodeJS.WritableStream = process.stdout): ReviewIO {
  return {
    print: (line) => out.write(`${line}\n`),
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    ask: async (question) => {
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, terminal: false });
      try {
        out.write(question);
        const line = await new Promise<string>((resolve, reject) => {
          rl.once('line', resolve);
          rl.once('close', () => resolve(''));
          process.stdin.once('error', reject);
        });
        return line;
      } catch (e) {
        throw systemError('trust.io', 'cannot read the answer from the terminal', { cause: e });
      } finally {
        rl.close();
      }
    },
  };
}
