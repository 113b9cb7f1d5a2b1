/**
 * Resource quantities as appc (and Kubernetes) write them: a decimal number with an optional
 * suffix — binary (`Ki Mi Gi Ti Pi Ei`), decimal SI (`n u m k M G T P E`, `K` accepted as
 * `k`), or an exponent (`e3`, `E-2`). `"128974848"`, `"125952Ki"` and `"123Mi"` are equal;
 * `"300m"` is 0.3. Values are computed exactly (bigint) and only then turned into numbers.
 */
import { RktError } from '@rktnetes/errors';

/** A quantity as an exact fraction: value = sign * num / den, with den > 0. */
export interface ExactQuantity {
  negative: boolean;
  num: bigint;
  den: bigint;
}

const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Ti: 40, Gi: 30, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, K: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const SHAPE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)([A-Za-z]*[+-]?\d*)$/;
/** Longest quantity string accepted; anything longer is not a sane resource amount. */
const MAX_LENGTH = 64;
/** Largest decimal exponent accepted (`1e64`), which bounds the bigint work. */
const MAX_EXPONENT = 64;

/** Decodes `s` exactly, or returns why it is not a quantity. */
export function decodeQuantity(s: string): ExactQuantity | string {
  if (s.length === 0) return 'must not be empty';
  if (s.length > MAX_LENGTH) return `must be at most ${MAX_LENGTH} characters`;
  const m = SHAPE.exec(s);
  if (!m) return 'must be a number with an optional suffix (e.g. "128Mi", "500m", "1G")';
  const [, sign = '', number = '', suffix = ''] = m;
  const [intPart = '', fracPart = ''] = number.split('.');
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  const bin = BINARY[suffix];
  const dec = DECIMAL[suffix];
  if (bin !== undefined) {
    num *= 2n ** BigInt(bin);
  } else {
    let exp: number;
    if (dec !== undefined) exp = dec;
    else if (/^[eE][+-]?\d+$/.test(suffix)) exp = Number(suffix.slice(1));
    else return `unknown suffix ${JSON.stringify(suffix)}`;
    if (Math.abs(exp) > MAX_EXPONENT) return `exponent ${exp} is out of range`;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  return { negative: sign === '-' && num !== 0n, num, den };
}

/** Whether `s` is a well-formed quantity string. */
export function isQuantity(s: unknown): s is string {
  return typeof s === 'string' && typeof decodeQuantity(s) !== 'string';
}

function ceilDiv(num: bigint, den: bigint): bigint {
  return (num + den - 1n) / den;
}

/** `q * scale`, rounded away from zero to an integer, as a bigint. */
export function scaledInteger(q: ExactQuantity, scale = 1n): bigint {
  const v = ceilDiv(q.num * scale, q.den);
  return q.negative ? -v : v;
}

function toNumber(q: ExactQuantity, scale: bigint, what: string, input: string): number {
  const v = scaledInteger(q, scale);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw quantityError(input, `${what} is too large`);
  }
  return Number(v);
}

function quantityError(input: string | number, reason: string): RktError {
  return new RktError('schema.invalid', `invalid quantity ${JSON.stringify(String(input))}: ${reason}`, {
    kind: 'user',
    details: { issues: [{ path: '', message: reason }] },
  });
}

function decodeOrThrow(input: string | number): ExactQuantity {
  const s = typeof input === 'number' ? numberToQuantity(input) : input;
  const q = decodeQuantity(s);
  if (typeof q === 'string') throw quantityError(input, q);
  return q;
}

/** The quantity string for a JSON number (JSON numbers are accepted where a quantity is expected). */
export function numberToQuantity(n: number): string {
  if (!Number.isFinite(n)) return 'NaN';
  // toString gives plain digits or d.ddde+N, both of which decodeQuantity understands.
  return String(n);
}

/**
 * The value of a quantity in base units as a JS number, fractions kept: `parseQuantity('128Mi')`
 * is 134217728, `parseQuantity('250m')` is 0.25. Throws `schema.invalid` when malformed.
 */
export function parseQuantity(input: string | number): number {
  const q = decodeOrThrow(input);
  const v = Number(q.num) / Number(q.den);
  return q.negative ? -v : v;
}

/**
 * The value in whole base units, rounded away from zero (bytes for memory, bytes/s for
 * bandwidth): `quantityValue('1.5Ki')` is 1536, `quantityValue('1m')` is 1. Throws
 * `schema.invalid` when malformed or beyond `Number.MAX_SAFE_INTEGER`.
 */
export function quantityValue(input: string | number): number {
  return toNumber(decodeOrThrow(input), 1n, 'value', String(input));
}

/**
 * The value in thousandths of the base unit, rounded away from zero (millicores for CPU):
 * `quantityMilli('250m')` is 250, `quantityMilli('2')` is 2000.
 */
export function quantityMilli(input: string | number): number {
  return toNumber(decodeOrThrow(input), 1000n, 'value', String(input));
}
