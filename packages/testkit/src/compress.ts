/**
 * Compression for test archives: gzip through node's zlib, bzip2, xz and zstd through the Debian
 * command-line tools (`bzip2`, `xz-utils`, `zstd`) when they are installed.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { systemError, userError } from '@rktnetes/errors';

/** Every compression the builders can produce. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const TOOLS: Record<Exclude<Compression, 'none' | 'gzip'>, string> = {
  bzip2: 'bzip2',
  xz: 'xz',
  zstd: 'zstd',
};

/** Whether an executable named `name` is on `PATH`. */
export function hasTool(name: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Whether `compression` can be produced and read on this machine. */
export function canCompress(compression: Compression): boolean {
  return compression === 'none' || compression === 'gzip' || hasTool(TOOLS[compression]);
}

function runTool(tool: string, args: string[], input: Buffer): Buffer {
  if (!hasTool(tool)) {
    throw systemError('testkit.tool-missing', `compression tool ${tool} not found on PATH`, {
      details: { tool },
    });
  }
  const r = spawnSync(tool, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw systemError('testkit.tool-failed', `running ${tool} failed`, { cause: r.error });
  if (r.status !== 0) {
    throw systemError('testkit.tool-failed', `${tool} ${args.join(' ')} exited with ${r.status}: ${r.stderr.toString().trim()}`);
  }
  return r.stdout;
}

/**
 * Compresses `data`. The output is deterministic: gzip carries no name and a zero mtime, xz runs
 * single-threaded.
 *
 * @throws RktError `testkit.tool-missing` when the CLI for bzip2/xz/zstd is not installed
 */
export function compress(data: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'none':
      return data;
    case 'gzip':
      return gzipSync(data);
    case 'bzip2':
      return runTool('bzip2', ['-c', '-z', '-9'], data);
    case 'xz':
      return runTool('xz', ['-c', '-z', '-T1'], data);
    case 'zstd':
      return runTool('zstd', ['-q', '-c', '-3'], data);
  }
}

/** Detects the compression of `data` from its magic bytes ('none' when unrecognised). */
export function detectCompression(data: Buffer): Compression {
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) return 'gzip';
  if (data.length >= 3 && data.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (data.length >= 6 && data.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * Decompresses `data`, detecting the format from its magic bytes unless `compression` is given.
 *
 * @throws RktError `testkit.decompress` when the data is corrupt or truncated
 */
export function decompress(data: Buffer, compression: Compression = detectCompression(data)): Buffer {
  try {
    switch (compression) {
      case 'none':
        return data;
      case 'gzip':
        return gunzipSync(data);
      case 'bzip2':
        return runTool('bzip2', ['-d', '-c'], data);
      case 'xz':
        return runTool('xz', ['-d', '-c'], data);
      case 'zstd':
        return runTool('zstd', ['-q', '-d', '-c'], data);
    }
  } catch (e) {
    throw userError('testkit.decompress', `cannot decompress ${compression} data`, { cause: e });
  }
}
