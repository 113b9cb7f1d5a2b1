/** Entry of the stub stage1 bundle: the entrypoint is named by the script's file name. */
import { main } from './program';

void main(process.argv[1] ?? '', process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
