/**
 * A small seeded pseudo-random generator (mulberry32), so that every randomised fault test can
 * be replayed: the seed is printed, and `FAULT_SEED=<n>` runs the same choices again.
 */

/** A seeded generator of numbers in [0, 1) and helpers built on it. */
export interface Rng {
  readonly seed: number;
  /** a float in [0, 1) */
  next(): number;
  /** an integer in [lo, hi] */
  int(lo: number, hi: number): number;
  /** one element of a non-empty list */
  pick<T>(items: readonly T[]): T;
  /** true with probability `p` */
  chance(p: number): boolean;
}

/** Creates a generator from a 32-bit seed. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p) => next() < p,
  };
}

/** The seed from the environment variable `name` (decimal), or a fresh random one. */
export function seedFromEnv(name = 'FAULT_SEED'): number {
  const v = process.env[name];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${name} must be an integer in [0, 2^32): ${v}`);
    return n;
  }
  return Math.floor(Math.random() * 0xffffffff) >>> 0;
}

/** A positive integer from the environment variable `name`, else `fallback`. */
export function intFromEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer: ${v}`);
  return n;
}
