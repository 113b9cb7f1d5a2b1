/**
 * yargs flags shared by list-like commands. `--no-legend` needs yargs' boolean negation off
 * for the command (otherwise yargs reads it as "legend=false" and strict mode rejects it).
 */
import type { Argv } from 'yargs';

/** Adds `--no-legend`, `--full` and `--format` as rkt spells them. */
export function listingFlags<T>(y: Argv<T>): Argv<T & { 'no-legend': boolean; full: boolean; format: string }> {
  return y
    .parserConfiguration({ 'boolean-negation': false })
    .option('no-legend', { type: 'boolean', default: false, describe: 'suppress a legend with the list' })
    .option('full', { type: 'boolean', default: false, describe: 'use long output format' })
    .option('format', {
      type: 'string',
      default: '',
      describe: "choose the output format: 'json', 'json-pretty', or empty for a table",
    }) as Argv<T & { 'no-legend': boolean; full: boolean; format: string }>;
}
