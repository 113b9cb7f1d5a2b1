/**
 * Naming pods on the command line: UUIDs (or unique prefixes) as arguments, or `--uuid-file`.
 */
import { readUUIDFile, resolvePodUUID, type PodLocation } from '@rktnetes/common';
import { usageError } from '@rktnetes/errors';

/**
 * The pod references a command was given: the content of `--uuid-file`, or the arguments.
 * `multiple` allows several arguments (stop, rm). Usage error `cli.usage` otherwise.
 */
export async function podArguments(uuidFile: string | undefined, args: readonly string[], command: string, multiple = false): Promise<string[]> {
  if (uuidFile) {
    if (args.length) throw usageError('cli.usage', `${command}: give either --uuid-file or pod UUIDs, not both`);
    return [await readUUIDFile(uuidFile)];
  }
  if (args.length === 0) throw usageError('cli.usage', `${command}: a pod UUID is required`);
  if (!multiple && args.length > 1) throw usageError('cli.usage', `${command}: expected exactly one pod UUID`);
  return [...args];
}

/** Resolves one reference to a pod (see `resolvePodUUID`: pod.not-found, pod.ambiguous). */
export function findPod(dataDir: string, ref: string): Promise<PodLocation> {
  return resolvePodUUID(dataDir, ref);
}
