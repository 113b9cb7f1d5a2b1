/**
 * Tests that need root (or another condition) and are skipped, visibly, elsewhere.
 */
import type { Implementation, TestFn } from 'ava';

/** Whether this process runs as root (uid 0). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A test declaration taking a title (what {@link testIf} returns). */
export type TitledTestFn<Context = unknown> = <Args extends unknown[]>(
  title: string,
  implementation: Implementation<Args, Context>,
  ...args: Args
) => void;

/** `test`-like function with a `serial` variant, either running or skipping every test. */
export type ConditionalTestFn<Context = unknown> = TitledTestFn<Context> & { serial: TitledTestFn<Context> };

/**
 * ava's `test` when `condition` holds; otherwise `test.skip` with ` (<reason>)` appended to every
 * title, so skipped tests say why.
 */
export function testIf<Context>(test: TestFn<Context>, condition: boolean, reason: string): ConditionalTestFn<Context> {
  if (condition) {
    const fn: TitledTestFn<Context> = (title, impl, ...args) => test(title, impl, ...args);
    const serial: TitledTestFn<Context> = (title, impl, ...args) => test.serial(title, impl, ...args);
    return Object.assign(fn, { serial });
  }
  const fn: TitledTestFn<Context> = (title, impl, ...args) => test.skip(`${title} (${reason})`, impl, ...args);
  const serial: TitledTestFn<Context> = (title, impl, ...args) => test.serial.skip(`${title} (${reason})`, impl, ...args);
  return Object.assign(fn, { serial });
}

/** ava's `test` when running as root, else `test.skip` with titles suffixed ` (needs root)`. */
export function privilegedTest<Context>(test: TestFn<Context>): ConditionalTestFn<Context> {
  return testIf(test, isRoot(), 'needs root');
}
