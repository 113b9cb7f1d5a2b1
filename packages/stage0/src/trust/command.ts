/**
 * `rkt trust [--prefix=PREFIX | --root] [--skip-fingerprint-review] [--insecure-allow-http] [KEY...]`:
 * adds keys (files or URLs, or those discovered for the prefix) to the local keystore.
 */
import { usageError, userError } from '@rktnetes/errors';
import type { Context } from '../cli/context';
import { loadConfig, authHeaders } from '../config';
import { discoverPublicKeys } from '../fetch/discovery';
import { defaultTimeoutMs, type HttpClientOptions } from '../fetch/http';
import { versionInfo } from '../version';
import { addTrustedKeys, processReviewIO, type ReviewIO } from './add';
import { checkPrefix, Keystore } from './keystore';

/** What `rkt trust` was asked. */
export interface TrustCommandOptions {
  prefix: string;
  root: boolean;
  skipFingerprintReview: boolean;
  insecureAllowHttp: boolean;
  keys: string[];
}

/**
 * Runs `rkt trust`. Errors (usage and others) are thrown as RktErrors; nothing is written
 * unless every key could be read.
 */
export async function runTrust(ctx: Context, opts: TrustCommandOptions, io: ReviewIO = processReviewIO()): Promise<void> {
  if (!opts.prefix && !opts.root) {
    if (opts.keys.length) {
      throw usageError(
        'trust.unbounded',
        'aborting due to implicit unbounded trust (root domain): give a prefix (rkt trust --prefix "example.com/app" KEY) or ask for root trust explicitly (rkt trust --root KEY)',
      );
    }
    throw usageError('cli.usage', 'rkt trust: give --prefix=PREFIX (keys are then discovered unless given) or --root KEY...');
  }
  if (opts.prefix && opts.root) throw usageError('cli.usage', '--root and --prefix usage mutually exclusive');
  if (opts.root && opts.keys.length === 0) throw usageError('cli.usage', 'rkt trust --root: give the key files to trust (keys are not discovered for root trust)');
  const prefix = opts.root ? undefined : checkPrefix(opts.prefix);

  const config = loadConfig(ctx);
  const client: HttpClientOptions = {
    insecureTls: ctx.insecure.has('tls'),
    allowHttp: opts.insecureAllowHttp,
    authHeaders: (method, url, headers) => authHeaders(config, method, url, headers),
    timeoutMs: defaultTimeoutMs(),
    userAgent: `rkt/${versionInfo().rktVersion} (rktnetes)`,
    debug: (m) => ctx.log.debug(m),
  };
  if (client.insecureTls) ctx.log.warn('TLS verification has been disabled');
  let locations = opts.keys;
  if (locations.length === 0) {
    try {
      locations = await discoverPublicKeys(prefix as string, { client, allowHttp: opts.insecureAllowHttp, debug: (m) => ctx.log.debug(m) });
    } catch (e) {
      throw userError('trust.discovery', `cannot determine the key location for prefix "${prefix}"`, { cause: e });
    }
  }
  const ks = new Keystore({ systemConfig: ctx.systemConfig, localConfig: ctx.localConfig });
  await addTrustedKeys(ks, {
    prefix,
    locations,
    accept: opts.skipFingerprintReview ? 'force' : 'ask',
    trustKeysFromHttps: ctx.trustKeysFromHttps,
    allowHttp: opts.insecureAllowHttp,
    client,
    io,
  });
}
