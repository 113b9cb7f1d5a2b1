/**
 * What every fetcher needs, built once per command: the store, the configuration (credentials),
 * the keystore, the HTTP client settings and the security switches.
 */
import type { Logger } from '@rktnetes/log';
import type { Store } from '@rktnetes/store';
import type { Context } from '../cli/context';
import { authHeaders, loadConfig, type Stage0Config } from '../config';
import { Keystore } from '../trust/keystore';
import { versionInfo } from '../version';
import { defaultTimeoutMs, type HttpClientOptions } from './http';

/** The shared state of one command's fetches. */
export interface FetchSession {
  ctx: Context;
  store: Store;
  log: Logger;
  config: Stage0Config;
  keystore: Keystore;
  /** false with `--insecure-options=image` */
  verify: boolean;
  /** `--insecure-options=http` */
  allowHttp: boolean;
  /** `--insecure-options=pubkey`: keys may be discovered over http (with `http`) or unverified TLS */
  insecurePubkeys: boolean;
  client: HttpClientOptions;
  /** warns once per session */
  warnOnce(key: string, msg: string): void;
}

const sessions = new WeakMap<Context, WeakMap<Store, FetchSession>>();

/** The session of `ctx` and `store`, created on first use. */
export function sessionFor(ctx: Context, store: Store): FetchSession {
  let byStore = sessions.get(ctx);
  if (!byStore) sessions.set(ctx, (byStore = new WeakMap()));
  let s = byStore.get(store);
  if (!s) byStore.set(store, (s = createSession(ctx, store)));
  return s;
}

function createSession(ctx: Context, store: Store): FetchSession {
  const config = loadConfig(ctx);
  const warned = new Set<string>();
  const insecureTls = ctx.insecure.has('tls');
  return {
    ctx,
    store,
    log: ctx.log,
    config,
    keystore: new Keystore({ systemConfig: ctx.systemConfig, localConfig: ctx.localConfig }),
    verify: !ctx.insecure.has('image'),
    allowHttp: ctx.insecure.has('http'),
    insecurePubkeys: ctx.insecure.has('pubkey'),
    client: {
      insecureTls,
      allowHttp: ctx.insecure.has('http'),
      authHeaders: (method, url, headers) => authHeaders(config, method, url, headers),
      timeoutMs: defaultTimeoutMs(),
      userAgent: `rkt/${versionInfo().rktVersion} (rktnetes)`,
      debug: (m) => ctx.log.debug(m),
    },
    warnOnce(key, msg) {
      if (warned.has(key)) return;
      warned.add(key);
      ctx.log.warn(msg);
    },
  };
}
