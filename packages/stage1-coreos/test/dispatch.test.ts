/**
 * The dispatch of the stage1-coreos program through `@rktnetes/stage1-kit`: the lines, exit
 * statuses and entrypoint names it had before (unit, with a recording Sys), and the bundle run as
 * the native entrypoints' fallback runs it (`stage1-coreos.mjs <entrypoint> <args>`).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemError, usageError } from '@rktnetes/errors';
import { runStage1, type EntrypointHandler } from '@rktnetes/stage1-kit';
import { recordingSys } from '@rktnetes/sys';
import { COREOS_HANDLERS, COREOS_PROGRAM, coreosContext, debugAnywhere, ENTRYPOINTS, type EntrypointName } from '../src/entrypoints/dispatch';

const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'stage1-coreos.mjs');

/** Runs the program with `handlers` on `argv` (after node); the status, the lines and the calls. */
async function dispatch(argv: string[], handler: (name: EntrypointName) => EntrypointHandler = () => () => 0) {
  const lines: string[] = [];
  const calls: Array<{ name: EntrypointName; argv: string[] }> = [];
  const handlers = Object.fromEntries(
    ENTRYPOINTS.map((name) => [
      name,
      (a: string[], ctx: Parameters<EntrypointHandler>[1]) => {
        calls.push({ name, argv: a });
        return handler(name)(a, ctx);
      },
    ]),
  ) as Record<EntrypointName, EntrypointHandler>;
  const sys = recordingSys();
  const code = await runStage1({ ...COREOS_PROGRAM, handlers }, { argv: ['node', ...argv], cwd: '/pods/run/u', env: {}, sys: () => sys, write: (l) => void lines.push(l) });
  return { code, lines, calls };
}

test('every entrypoint has a handler, under the names of the image links', (t) => {
  t.deepEqual(Object.keys(COREOS_HANDLERS).sort(), [...ENTRYPOINTS].sort());
  t.deepEqual([...ENTRYPOINTS], ['run', 'enter', 'gc', 'stop', 'app_add', 'app_start', 'app_stop', 'app_rm', 'attach']);
});

test('the entrypoint is the name the program runs as, or its first argument; .mjs is not left out', async (t) => {
  t.deepEqual((await dispatch(['/pod/stage1/rootfs/app_start', '--app=a'])).calls, [{ name: 'app_start', argv: ['--app=a'] }]);
  t.deepEqual((await dispatch(['/pod/stage1/rootfs/stage1-coreos.mjs', 'gc', 'u'])).calls, [{ name: 'gc', argv: ['u'] }]);
  // a file named run.mjs is not run: its first argument names the entrypoint
  t.deepEqual((await dispatch(['/x/run.mjs', 'stop', 'u'])).calls, [{ name: 'stop', argv: ['u'] }]);
});

test('an unknown entrypoint: stage1.entrypoint.unknown, the coreos wording, 254', async (t) => {
  const r = await dispatch(['/x/stage1-coreos.mjs', 'app/add', 'u']);
  t.is(r.code, 254);
  t.deepEqual(r.lines, ['stage1: unknown entrypoint "app/add", expected one of run, enter, gc, stop, app_add, app_start, app_stop, app_rm, attach']);
  t.is(r.calls.length, 0);
  t.regex((await dispatch(['/x/run.mjs'])).lines[0]!, /^stage1: unknown entrypoint "", expected one of run,/);
  // --debug anywhere prints the whole chain, with the code
  const debug = await dispatch(['/x/stage1-coreos.mjs', 'nope', '--debug']);
  t.regex(debug.lines[0]!, /^stage1: RktError: unknown entrypoint "nope", expected one of /);
  t.regex(debug.lines[0]!, /\[stage1\.entrypoint\.unknown\]$/);
});

test('warnings, debug lines and errors are `stage1:` lines without the entrypoint', async (t) => {
  const noisy = (fail: unknown) => (): EntrypointHandler => (_argv, ctx) => {
    const c = coreosContext(ctx);
    c.warn('careful');
    c.debug('details');
    if (fail) throw fail;
    return 3;
  };
  const quiet = await dispatch(['/x/gc', 'u'], noisy(undefined));
  t.is(quiet.code, 3);
  t.deepEqual(quiet.lines, ['stage1: warning: careful']);
  const failed = await dispatch(['/x/gc', 'u'], noisy(systemError('stage1.gc', 'gc of pod u failed', { cause: new Error('EBUSY') })));
  t.is(failed.code, 254);
  t.deepEqual(failed.lines, ['stage1: warning: careful', 'stage1: gc of pod u failed: EBUSY']);
  // --debug after -- counts too (coreos looks at every argument)
  const debug = await dispatch(['/x/enter', '--pid=1', '--', 'sh', '--debug'], noisy(usageError('stage1.args', 'bad')));
  t.is(debug.code, 254);
  t.deepEqual(debug.lines.slice(0, 2), ['stage1: warning: careful', 'stage1: details']);
  t.regex(debug.lines[2]!, /^stage1: RktError: bad\n/);
});

test('the context: the pod directory is the cwd, the environment and Sys are the host\'s', async (t) => {
  let seen: ReturnType<typeof coreosContext> | undefined;
  await dispatch(['/x/stop', 'u'], () => (_argv, ctx) => {
    seen = coreosContext(ctx);
    return 0;
  });
  t.is(seen?.pod, '/pods/run/u');
  t.deepEqual(seen?.env, {});
});

test('debugAnywhere: --debug or -debug with a Go true, wherever it stands', (t) => {
  for (const yes of [['--debug'], ['-debug'], ['--debug=true'], ['x', '--', '--debug=1'], ['--debug=false', '--debug']]) t.true(debugAnywhere(yes), yes.join(' '));
  for (const no of [[], ['--debug=false'], ['--debug=yes'], ['--debugging']]) t.false(debugAnywhere(no), no.join(' '));
});

const built = existsSync(BUNDLE);
(built ? test : test.skip)('the bundle: started as itself with an entrypoint (the native fallback), and with an unknown one', (t) => {
  const gc = spawnSync(BUNDLE, ['gc'], { encoding: 'utf8', cwd: '/' });
  t.is(gc.status, 254);
  t.regex(gc.stderr, /^stage1: /m);
  t.notRegex(gc.stderr, /unknown entrypoint/);
  const bad = spawnSync(BUNDLE, ['nope'], { encoding: 'utf8' });
  t.is(bad.status, 254);
  t.is(bad.stderr, 'stage1: unknown entrypoint "nope", expected one of run, enter, gc, stop, app_add, app_start, app_stop, app_rm, attach\n');
  const none = spawnSync(BUNDLE, [], { encoding: 'utf8' });
  t.is(none.stderr, 'stage1: unknown entrypoint "", expected one of run, enter, gc, stop, app_add, app_start, app_stop, app_rm, attach\n');
});
