import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { treeStoreIDFor } from '@rktnetes/store';
import { sha512Hex } from '../src/sha512';

const reference = (s: string): string => createHash('sha512').update(s, 'utf8').digest('hex');

test('sha512Hex is SHA-512: the FIPS 180-4 examples', (t) => {
  t.is(
    sha512Hex('abc'),
    'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
  );
  t.is(sha512Hex(''), reference(''));
});

test('sha512Hex agrees with node:crypto at every length around the block boundaries', (t) => {
  for (let n = 0; n <= 300; n++) {
    for (const s of [randomBytes(n).toString('latin1'), 'k'.repeat(n), randomBytes(n).toString('base64').slice(0, n)]) {
      t.is(sha512Hex(s), reference(s), `length ${n}`);
    }
  }
  t.is(sha512Hex('é'.repeat(100)), reference('é'.repeat(100)), 'hashes the UTF-8 bytes');
});

test('tree store ids are the sha512 of the keys joined by commas', (t) => {
  const keys = [`sha512-${'a'.repeat(64)}`, `sha512-${'b'.repeat(64)}`];
  t.is(treeStoreIDFor(keys), `deps-sha512-${reference(keys.join(',')).slice(0, 64)}`);
  t.is(treeStoreIDFor(keys.slice(0, 1)), `deps-sha512-${reference(keys[0]!).slice(0, 64)}`);
});
