import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { isQuantity, parseQuantity, quantityMilli, quantityValue } from '@rktnetes/schema';

test('binary, decimal and exponent suffixes', (t) => {
  const table: Array<[string, number]> = [
    ['0', 0],
    ['128974848', 128974848],
    ['125952Ki', 128974848],
    ['123Mi', 128974848],
    ['128Mi', 134217728],
    ['1Gi', 2 ** 30],
    ['1Ei', 2 ** 60],
    ['1G', 1e9],
    ['2G', 2e9],
    ['1k', 1000],
    ['1K', 1000],
    ['1M', 1e6],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['+7', 7],
    ['-7', -7],
  ];
  for (const [s, v] of table) t.is(parseQuantity(s), v, s);
});

test('milli, micro and nano suffixes give fractions', (t) => {
  t.is(parseQuantity('250m'), 0.25);
  t.is(parseQuantity('300m'), 0.3);
  t.is(parseQuantity('500u'), 0.0005);
  t.is(parseQuantity('1n'), 1e-9);
  t.is(parseQuantity(0.3), 0.3, 'JSON numbers are quantities too');
});

test('quantityMilli gives millicores exactly', (t) => {
  t.is(quantityMilli('250m'), 250);
  t.is(quantityMilli('500m'), 500);
  t.is(quantityMilli('1'), 1000);
  t.is(quantityMilli('0.1'), 100);
  t.is(quantityMilli('1.5'), 1500);
  t.is(quantityMilli('1u'), 1, 'rounds up');
});

test('quantityValue gives whole base units, rounding up', (t) => {
  t.is(quantityValue('1.5Ki'), 1536);
  t.is(quantityValue('1m'), 1);
  t.is(quantityValue('2G'), 2_000_000_000);
  t.is(quantityValue('7Pi'), 7 * 2 ** 50);
});

test('malformed and oversized quantities throw schema.invalid', (t) => {
  for (const s of ['', 'lots', '1GB', '1 G', '1Kb', 'G', '1..5', '1e', '0x10', '1e999']) {
    t.false(isQuantity(s), s);
    const e = t.throws(() => parseQuantity(s), undefined, s);
    t.true(hasCode(e, 'schema.invalid'), s);
  }
  const e = t.throws(() => quantityValue('100000Ei'));
  t.regex(e?.message ?? '', /too large/);
});
