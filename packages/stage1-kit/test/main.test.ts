import test from 'ava';
import { internalError, systemError, usageError } from '@rktnetes/errors';
import { runStage1, stage1Logger, stage1Main, type Stage1Context, type Stage1Main } from '@rktnetes/stage1-kit';
import { recordingSys } from '@rktnetes/sys';

type Name = 'run' | 'gc';

/** A program whose handlers record their calls and do what `behave` says. */
function program(behave: Partial<Record<Name, (argv: string[], ctx: Stage1Context) => number | Promise<number>>> = {}) {
  const calls: Array<{ name: Name; argv: string[]; ctx: Stage1Context }> = [];
  const handler = (name: Name) => async (argv: string[], ctx: Stage1Context) => {
    calls.push({ name, argv, ctx });
    return (behave[name] ?? (() => 0))(argv, ctx);
  };
  const p: Stage1Main<Name> = { name: 'stage1-test', entrypoints: ['run', 'gc'], unknownEntrypointCode: 'stage1-test.entrypoint', handlers: { run: handler('run'), gc: handler('gc') } };
  return { p, calls };
}

/** A host with a recording Sys, collecting the lines the program writes. */
function host(argv: string[]) {
  const lines: string[] = [];
  const sys = recordingSys();
  return { lines, sys, host: { argv: ['node', ...argv], cwd: '/pods/run/u', env: { RKT_LOCK_FD: '9' }, sys: () => sys, write: (l: string) => void lines.push(l), startedAt: 12.5 } };
}

test('runStage1 runs the entrypoint the program was started as, with its context', async (t) => {
  const { p, calls } = program({ gc: () => 3 });
  const h = host(['/pods/run/u/stage1/rootfs/gc', '--debug', 'u']);
  t.is(await runStage1(p, h.host), 3);
  t.is(calls.length, 1);
  const { name, argv, ctx } = calls[0]!;
  t.is(name, 'gc');
  t.deepEqual(argv, ['--debug', 'u']);
  t.is(ctx.sys, h.sys);
  t.is(ctx.podDir, '/pods/run/u');
  t.deepEqual(ctx.env, { RKT_LOCK_FD: '9' });
  t.is(ctx.startedAt, 12.5);
  t.true(ctx.log.debugEnabled);
  ctx.log.warn('careful');
  ctx.log.debug('details');
  t.deepEqual(h.lines, ['stage1-test: warning: careful', 'stage1-test: details']);
});

test('runStage1 dispatches on the first argument when started as itself, without debug by default', async (t) => {
  const { p, calls } = program();
  const h = host(['/usr/lib/stage1-test.mjs', 'run', 'u']);
  t.is(await runStage1(p, h.host), 0);
  t.deepEqual(calls.map((c) => [c.name, c.argv, c.ctx.log.debugEnabled]), [['run', ['u'], false]]);
});

test('a failing entrypoint prints one line naming it and exits with the status of its error', async (t) => {
  const { p } = program({
    run: () => {
      throw systemError('pod.broken', 'pod u is broken', { cause: new Error('no such file') });
    },
    gc: () => {
      throw usageError('stage1.args.missing', 'stage1 gc: missing pod uuid argument');
    },
  });
  const run = host(['/x/run', 'u']);
  t.is(await runStage1(p, run.host), 254);
  t.deepEqual(run.lines, ['stage1-test: run: pod u is broken: no such file']);
  const gc = host(['/x/gc']);
  t.is(await runStage1(p, gc.host), 254);
  t.deepEqual(gc.lines, ['stage1-test: gc: stage1 gc: missing pod uuid argument']);
});

test('a program may leave the entrypoint out of its error lines', async (t) => {
  const { p } = program({
    gc: () => {
      throw usageError('stage1.args.missing', 'stage1 gc: missing pod uuid argument');
    },
  });
  const h = host(['/x/gc']);
  t.is(await runStage1({ ...p, entrypointInErrors: false }, h.host), 254);
  t.deepEqual(h.lines, ['stage1-test: stage1 gc: missing pod uuid argument']);
});

test('with --debug a failing entrypoint prints the whole cause chain', async (t) => {
  const { p } = program({
    run: () => {
      throw systemError('pod.broken', 'pod u is broken', { cause: new Error('no such file') });
    },
  });
  const h = host(['/x/run', '--debug', 'u']);
  t.is(await runStage1(p, h.host), 254);
  t.is(h.lines.length, 1);
  t.regex(h.lines[0]!, /^stage1-test: run: RktError: pod u is broken\n/);
  t.regex(h.lines[0]!, /caused by: no such file/);
});

test('an unknown entrypoint is one line without an entrypoint, even with --debug', async (t) => {
  const { p, calls } = program();
  const h = host(['/x/stage1-test.mjs', '--debug', 'u']);
  t.is(await runStage1(p, h.host), 254);
  t.deepEqual(h.lines, ['stage1-test: unknown entrypoint "--debug": use one of run, gc']);
  t.is(calls.length, 0);
  const none = host([]);
  t.is(await runStage1(p, none.host), 254);
  t.deepEqual(none.lines, ['stage1-test: unknown entrypoint "stage1-test": use one of run, gc']);
});

test('a Sys that cannot be made fails before the entrypoint, as the program', async (t) => {
  const { p, calls } = program();
  const h = host(['/x/run', 'u']);
  const status = await runStage1(p, {
    ...h.host,
    sys: () => {
      throw internalError('sys.load', 'koffi cannot be loaded');
    },
  });
  t.is(status, 254);
  t.deepEqual(h.lines, ['stage1-test: koffi cannot be loaded']);
  t.is(calls.length, 0);
});

test('stage1Main sets the process exit status', async (t) => {
  const before = process.exitCode;
  t.teardown(() => {
    process.exitCode = before;
  });
  const { p } = program({ run: () => 7 });
  const h = host(['/x/run']);
  stage1Main(p, h.host);
  await new Promise((r) => setTimeout(r, 10));
  t.is(process.exitCode, 7);
});

test('stage1Logger prefixes its lines and prints debug lines only when asked', (t) => {
  const lines: string[] = [];
  const quiet = stage1Logger('stage1-x', false, (l) => void lines.push(l));
  quiet.debug('hidden');
  quiet.info('shown');
  quiet.error(new Error('bad'), 'stop');
  t.deepEqual(lines, ['stage1-x: shown', 'stage1-x: stop: bad']);
});

test('a program may decide debug from all its arguments, and then print errors before the handler in full too', async (t) => {
  const anywhere = (args: readonly string[]) => args.includes('--debug');
  const { p, calls } = program();
  const after = host(['/x/run', '--', '--debug']);
  t.is(await runStage1({ ...p, debugFlag: anywhere }, after.host), 0);
  t.true(calls[0]!.ctx.log.debugEnabled, 'past -- too');
  const plain = host(['/x/run', '--', '--debug']);
  t.is(await runStage1(p, plain.host), 0);
  t.false(calls[1]!.ctx.log.debugEnabled, 'the default stops at --');
  const unknown = host(['/x/stage1-test.mjs', 'nope', '--debug']);
  t.is(await runStage1({ ...p, debugFlag: anywhere }, unknown.host), 254);
  t.is(unknown.lines.length, 1);
  t.regex(unknown.lines[0]!, /^stage1-test: RktError: unknown entrypoint "nope": use one of run, gc\n/);
  t.regex(unknown.lines[0]!, /\[stage1-test\.entrypoint\]$/);
  const quiet = host(['/x/stage1-test.mjs', 'nope']);
  t.is(await runStage1({ ...p, debugFlag: anywhere }, quiet.host), 254);
  t.deepEqual(quiet.lines, ['stage1-test: unknown entrypoint "nope": use one of run, gc']);
});
