import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { explicitBool, parseGoFlags, valueFlag, type FlagSpec } from '@rktnetes/stage1-abi';

function parser() {
  const seen: Record<string, unknown> = {};
  const specs: FlagSpec[] = [
    { name: 'debug', kind: 'bool', set: (v) => (seen.debug = v) },
    { name: 'net', kind: 'value', set: (v) => (seen.net = v) },
    { name: 'appname', kind: 'value', aliases: ['app'], set: (v) => (seen.appname = v) },
  ];
  return { seen, parse: (argv: string[]) => parseGoFlags('test', argv, specs) };
}

test('single and double dashes, = and separate values', (t) => {
  const p = parser();
  const r = p.parse(['-debug', '--net', 'host', '--appname=x', 'pos1', '--debug=false']);
  t.deepEqual(p.seen, { debug: true, net: 'host', appname: 'x' });
  t.deepEqual(r.positionals, ['pos1', '--debug=false'], 'parsing stops at the first non-flag');
  t.false(r.sawDoubleDash);
  t.deepEqual(r.given, ['debug', 'net', 'appname']);
});

test('booleans take Go spellings and never the next argument', (t) => {
  const p = parser();
  t.deepEqual(p.parse(['--debug', 'false']).positionals, ['false']);
  t.true(p.seen.debug);
  p.parse(['--debug=F']);
  t.false(p.seen.debug);
  p.parse(['--debug=1']);
  t.true(p.seen.debug);
  t.true(hasCode(t.throws(() => p.parse(['--debug=yes'])), 'stage1.args.invalid-value'));
});

test('-- ends the flags and is dropped; values may start with a dash', (t) => {
  const p = parser();
  const r = p.parse(['--net', '-weird', '--', '--debug', 'x']);
  t.is(p.seen.net, '-weird');
  t.deepEqual(r.positionals, ['--debug', 'x']);
  t.true(r.sawDoubleDash);
  t.deepEqual(p.parse(['-', 'a']).positionals, ['-', 'a'], 'a lone dash is an argument');
});

test('aliases resolve to the canonical name', (t) => {
  const p = parser();
  const r = p.parse(['--app=redis']);
  t.is(p.seen.appname, 'redis');
  t.deepEqual(r.given, ['appname']);
});

test('errors are usage errors with stable codes', (t) => {
  const p = parser();
  const unknown = t.throws(() => p.parse(['--nope']));
  t.true(hasCode(unknown, 'stage1.args.unknown-flag'));
  t.is((unknown as { kind?: string }).kind, 'usage');
  t.regex((unknown as Error).message, /^test: flag provided but not defined: -nope$/);
  t.true(hasCode(t.throws(() => p.parse(['--net'])), 'stage1.args.missing-value'));
  t.true(hasCode(t.throws(() => p.parse(['---net=x'])), 'stage1.args.bad-syntax'));
  t.true(hasCode(t.throws(() => p.parse(['-=x'])), 'stage1.args.bad-syntax'));
});

test('formatters', (t) => {
  t.is(valueFlag('pid', 12), '--pid=12');
  t.is(explicitBool('debug', false), '--debug=false');
  t.is(explicitBool('debug', true), '--debug=true');
});
