import { main } from '../cli/main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`rkt: internal error: ${String(e)}\n`);
    process.exitCode = 254;
  },
);
