import test from 'ava';
import { hasCode, isRktError } from '@rktnetes/errors';
import { debugRequested, entrypointOf, type Stage1Program } from '@rktnetes/stage1-kit';

const PROGRAM: Stage1Program<'run' | 'gc' | 'app_add'> = { name: 'stage1-test', entrypoints: ['run', 'gc', 'app_add'], unknownEntrypointCode: 'stage1-test.entrypoint' };

test('entrypointOf takes the entrypoint from the name the program runs as', (t) => {
  t.deepEqual(entrypointOf(PROGRAM, '/pods/x/stage1/rootfs/run', ['--net=host', 'u']), { entrypoint: 'run', argv: ['--net=host', 'u'] });
  t.deepEqual(entrypointOf(PROGRAM, 'app_add', ['--app=a']), { entrypoint: 'app_add', argv: ['--app=a'] });
  // a link named like an entrypoint wins over an argument that is one too
  t.deepEqual(entrypointOf(PROGRAM, '/x/gc', ['run']), { entrypoint: 'gc', argv: ['run'] });
});

test('entrypointOf takes it from the first argument when the program runs as itself', (t) => {
  t.deepEqual(entrypointOf(PROGRAM, '/x/stage1-test.mjs', ['gc', 'u']), { entrypoint: 'gc', argv: ['u'] });
  t.deepEqual(entrypointOf(PROGRAM, 'stage1-test', ['run']), { entrypoint: 'run', argv: [] });
  // the .mjs/.js/.ts ending of a program named like an entrypoint is ignored
  t.deepEqual(entrypointOf(PROGRAM, '/src/run.ts', ['u']), { entrypoint: 'run', argv: ['u'] });
});

test('entrypointOf rejects anything else as a usage error with the flavor code', (t) => {
  const e = t.throws(() => entrypointOf(PROGRAM, '/x/stage1-test.mjs', ['app/add', 'u']));
  t.true(hasCode(e, 'stage1-test.entrypoint'));
  t.true(isRktError(e) && e.kind === 'usage');
  t.is(e?.message, 'unknown entrypoint "app/add": use one of run, gc, app_add');
  t.deepEqual(isRktError(e) ? e.details : undefined, { program: '/x/stage1-test.mjs' });
  // without arguments the program name is what is unknown
  t.is(t.throws(() => entrypointOf(PROGRAM, '/x/stage1-test.mjs', []))?.message, 'unknown entrypoint "stage1-test": use one of run, gc, app_add');
});

test('debugRequested reads every Go spelling of true and stops at --', (t) => {
  for (const yes of [['--debug'], ['-debug'], ['--debug=1'], ['-debug=t'], ['--debug=T'], ['--debug=TRUE'], ['--debug=true'], ['--debug=True'], ['u', '--debug']]) t.true(debugRequested(yes), yes.join(' '));
  for (const no of [[], ['u'], ['--debug=false'], ['--debug=0'], ['--debug=yes'], ['--', '--debug'], ['--debugging'], ['---debug']]) t.false(debugRequested(no), no.join(' '));
  // the first --debug decides
  t.false(debugRequested(['--debug=false', '--debug']));
});

test('entrypointOf may compare the program name as it is, and word the unknown-entrypoint error its own way', (t) => {
  const exact: Stage1Program<'run' | 'gc' | 'app_add'> = {
    ...PROGRAM,
    ignoredEndings: [],
    unknownEntrypointMessage: ({ argument, name, entrypoints }) => `no ${JSON.stringify(argument ?? '')} in ${name} (${entrypoints.join('|')})`,
  };
  // run.ts is no entrypoint then: its first argument is
  t.deepEqual(entrypointOf(exact, '/src/run.ts', ['gc', 'u']), { entrypoint: 'gc', argv: ['u'] });
  t.deepEqual(entrypointOf(exact, '/x/run', ['u']), { entrypoint: 'run', argv: ['u'] });
  const e = t.throws(() => entrypointOf(exact, '/src/run.ts', ['u']));
  t.true(hasCode(e, 'stage1-test.entrypoint'));
  t.is(e?.message, 'no "u" in run.ts (run|gc|app_add)');
  t.is(t.throws(() => entrypointOf(exact, '/x/stage1-test.mjs', []))?.message, 'no "" in stage1-test.mjs (run|gc|app_add)');
  // other endings
  t.deepEqual(entrypointOf({ ...PROGRAM, ignoredEndings: ['.sh'] }, '/x/gc.sh', []), { entrypoint: 'gc', argv: [] });
});
