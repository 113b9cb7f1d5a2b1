/**
 * What every store operation works on: the layout, the database rows, and the open mode.
 */
import { internalError } from '@rktnetes/errors';
import type { Layout } from './layout';
import type { Rows } from './rows';

export interface StoreContext {
  readonly layout: Layout;
  readonly rows: Rows;
  readonly readOnly: boolean;
  /** debug output, if asked for */
  readonly debug: (msg: string) => void;
}

/** Throws `store.read-only` (internal: a caller bug) when the store was opened read-only. */
export function assertWritable(ctx: StoreContext, op: string): void {
  if (ctx.readOnly) throw internalError('store.read-only', `cannot ${op}: the image store was opened read-only`);
}
