/**
 * One-time tokens of the streaming server: an Exec, Attach or PortForward RPC stores what it
 * validated under a random token and answers a URL with it; the first request that presents
 * the token takes it (a second one, or one after the TTL, finds nothing). As the kubelet's
 * streaming server does: tokens live one minute, at most 1000 wait at once.
 */
import { randomBytes } from 'node:crypto';
import { userError } from '@rktnetes/errors';

/** How long a token is valid. */
export const TOKEN_TTL_MS = 60_000;
/** How many tokens may wait at once. */
export const MAX_TOKENS = 1000;

/** The requests a token can stand for. */
export type StreamKind = 'exec' | 'attach' | 'portforward';

interface Entry<T> {
  kind: StreamKind;
  value: T;
  expires: number;
}

/** The token store. `now` is injectable for tests. */
export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly max = MAX_TOKENS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores `value`; returns its token (12 random bytes, base64url). Errors (user):
   * `cri.streaming-busy` when {@link MAX_TOKENS} are waiting.
   */
  put(kind: StreamKind, value: T): string {
    this.sweep();
    if (this.entries.size >= this.max) throw userError('cri.streaming-busy', `too many streaming requests are waiting (${this.max}); try again later`);
    const token = randomBytes(12).toString('base64url');
    this.entries.set(token, { kind, value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** Takes the value of a token of that kind (once); undefined when unknown, used or expired. */
  take(kind: StreamKind, token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e || e.kind !== kind) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  /** Tokens waiting now. */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, e] of this.entries) if (e.expires <= t) this.entries.delete(k);
  }
}
