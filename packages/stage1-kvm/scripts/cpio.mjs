// Build-time helper: a cpio archive in the "newc" format (the one the Linux kernel unpacks as
// an initramfs), from a list of entries. Owners are root, mtimes 0, so the output depends only
// on the entries.

/**
 * @typedef {{ path: string, type?: 'file' | 'dir' | 'symlink' | 'char', content?: Buffer | string,
 *   target?: string, mode?: number, major?: number, minor?: number }} CpioEntry
 *   `path` is relative (no leading slash); `mode` holds the permission bits only.
 */

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000 };

const hex8 = (n) => (n >>> 0).toString(16).padStart(8, '0');
const pad4 = (n) => Buffer.alloc((4 - (n % 4)) % 4);

/**
 * The cpio newc bytes of `entries`, in the given order (parents must come before children),
 * ended by the `TRAILER!!!` entry.
 *
 * @param {CpioEntry[]} entries
 * @returns {Buffer}
 */
export function cpioNewc(entries) {
  const parts = [];
  let ino = 1;
  const add = (name, mode, data, rdevMajor = 0, rdevMinor = 0) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const header = Buffer.from(
      '070701' +
        [ino++, mode, 0, 0, mode & TYPE_BITS.dir ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0].map(hex8).join(''),
      'ascii',
    );
    parts.push(header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length));
  };
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (e.path.startsWith('/') || e.path === '') throw new Error(`cpio: path must be relative: ${JSON.stringify(e.path)}`);
    const perm = e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    const data = type === 'file' ? Buffer.from(e.content ?? '') : type === 'symlink' ? Buffer.from(e.target ?? '') : Buffer.alloc(0);
    add(e.path, TYPE_BITS[type] | perm, data, e.major ?? 0, e.minor ?? 0);
  }
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
