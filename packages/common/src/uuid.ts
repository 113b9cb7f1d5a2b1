/**
 * Pod UUIDs: generation, validation, canonical form, and uuid files (`--uuid-file-save` /
 * `--uuid-file`). Resolving a typed prefix among existing pods is `resolvePodUUID` in pods.ts.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { systemError, userError, usageError } from '@rktnetes/errors';
import { writeFileAtomic } from './files';

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new random (version 4) pod UUID in canonical form: lowercase, 8-4-4-4-12. */
export function newPodUUID(): string {
  return formatUUIDv4(randomBytes16());
}

/**
 * 16 random bytes from the kernel's generator (`device`, /dev/urandom): three system calls,
 * where node:crypto (which rkt run does not otherwise need) would take milliseconds to load.
 * Without the device (a /dev-less chroot) they come from node:crypto.
 */
export function randomBytes16(device = '/dev/urandom'): Buffer {
  const bytes = Buffer.alloc(16);
  let fd: number | undefined;
  try {
    fd = openSync(device, 'r');
    for (let n = 0; n < 16; ) {
      const got = readSync(fd, bytes, n, 16 - n, null);
      if (got === 0) throw new Error(`${device}: end of file`);
      n += got;
    }
    return bytes;
  } catch {
    return randomFillSync(bytes);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The version 4 (random, RFC 4122 variant) UUID made of 16 random bytes, in canonical form. */
export function formatUUIDv4(random: Uint8Array): string {
  if (random.length !== 16) throw new RangeError(`a uuid needs 16 random bytes, not ${random.length}`);
  const b = Buffer.from(random);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Whether `s` is a UUID in any form appc accepts: 32 hex digits, with or without the dashes,
 * any case. The all-zero UUID is rejected (appc treats it as empty).
 */
export function isValidUUID(s: string): boolean {
  const hex = s.replace(/-/g, '');
  return /^[0-9a-fA-F]{32}$/.test(hex) && !/^0+$/.test(hex) && (s.length === 32 || CANONICAL.test(s.toLowerCase()));
}

/**
 * The canonical form (lowercase, dashed) of a full UUID. Throws a usage error `uuid.invalid`
 * when `s` is not one.
 */
export function normalizeUUID(s: string): string {
  if (!isValidUUID(s)) throw usageError('uuid.invalid', `invalid pod uuid ${JSON.stringify(s)}`, { details: { uuid: s } });
  const h = s.replace(/-/g, '').toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Whether `s` is already in canonical form (how pod directories are named). */
export function isCanonicalUUID(s: string): boolean {
  return CANONICAL.test(s) && isValidUUID(s);
}

/**
 * Reads a uuid file (`--uuid-file`): the text with surrounding blanks removed. The content is
 * resolved like a typed uuid, so a prefix is accepted. Errors: system `uuid-file.read`, user
 * `uuid-file.empty`.
 */
export async function readUUIDFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    throw systemError('uuid-file.read', `cannot read uuid file ${path}`, { cause: e, details: { path } });
  }
  const uuid = text.trim();
  if (uuid === '') throw userError('uuid-file.empty', `uuid file ${path} is empty`, { details: { path } });
  return uuid;
}

/** Writes a uuid file (`--uuid-file-save`): the canonical uuid, no newline, mode 0644 (as rkt). */
export async function writeUUIDFile(path: string, uuid: string): Promise<void> {
  await writeFileAtomic(path, normalizeUUID(uuid), 0o644);
}
