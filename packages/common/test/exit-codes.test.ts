import test from 'ava';
import { EXIT_CODE_TABLE, EXIT_FAILURE, EXIT_MISSING_COMMAND, EXIT_OK, EXIT_USAGE, exitStatusOf } from '@rktnetes/common';
import { exitCodeFor, usageError, userError } from '@rktnetes/errors';

test('the table matches rkt', (t) => {
  t.is(EXIT_OK, 0);
  t.is(EXIT_FAILURE, 254);
  t.is(EXIT_USAGE, 254);
  t.is(EXIT_MISSING_COMMAND, 2);
  t.is(exitCodeFor(usageError('x', 'y')), EXIT_USAGE);
  t.is(exitCodeFor(userError('x', 'y')), EXIT_FAILURE);
  t.true(EXIT_CODE_TABLE.some((r) => r.status === '254'));
});

test('exitStatusOf maps a child exit like a shell', (t) => {
  t.is(exitStatusOf(3, null), 3);
  t.is(exitStatusOf(null, 'SIGKILL'), 137);
  t.is(exitStatusOf(null, 'SIGTERM'), 143);
  t.is(exitStatusOf(null, null), 254);
});
