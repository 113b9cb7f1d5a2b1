/**
 * The on-disk allocation store of host-local IPAM, in the reference plugin's format so that
 * either plugin can read the other's allocations:
 *
 *     <dataDir>/<network>/lock                 flock(2) guarding every change
 *     <dataDir>/<network>/<ip>                 "<container id>\r\n<ifname>" (created O_EXCL)
 *     <dataDir>/<network>/last_reserved_ip.<N> the address last handed out from range set N
 *
 * Files holding only a container id (older plugins) match every interface of that container.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeFileSync, writeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { CniErrorCodes } from '@rktnetes/schema';
import { type IP, formatIP, parseIP } from '../addr';
import { cniError } from '../errors';
import { type HeldLock, type LockOptions, lockFile } from '../lock';

/** Where host-local keeps allocations unless `ipam.dataDir` says otherwise. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

const LAST_RESERVED = 'last_reserved_ip.';
const LINE_BREAK = '\r\n';

/** One allocation file. */
export interface Allocation {
  ip: IP;
  containerId: string;
  /** empty for files written by plugins that stored only the container id */
  ifName: string;
  /** the file's name in the directory */
  file: string;
}

function ioError(what: string, e: unknown): Error {
  return cniError(CniErrorCodes.ioFailure, 'cni.ipam-store', what, { cause: e });
}

/** The allocation directory of one network, used while its lock is held. */
export class AllocationStore {
  private constructor(
    readonly dir: string,
    private readonly lock: HeldLock,
  ) {}

  /**
   * Creates `<dataDir>/<network>` if needed and locks it; release with {@link close}.
   *
   * @throws code 5 when the directory or lock file cannot be made
   */
  static async open(dataDir: string, network: string, opts: LockOptions = {}): Promise<AllocationStore> {
    const dir = join(dataDir, network);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw ioError(`cannot create IPAM directory ${dir}`, e);
    }
    const lock = await lockFile(join(dir, 'lock'), opts);
    return new AllocationStore(dir, lock);
  }

  /** Releases the lock. */
  async close(): Promise<void> {
    await this.lock.release();
  }

  /** How the lock is held (for diagnostics and tests). */
  get lockedVia(): HeldLock['via'] {
    return this.lock.via;
  }

  /**
   * Records `ip` for the attachment unless some other allocation has it; returns whether it did.
   * Updates `last_reserved_ip.<rangeSet>`.
   */
  reserve(ip: IP, containerId: string, ifName: string, rangeSet: number): boolean {
    const path = join(this.dir, formatIP(ip));
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw ioError(`cannot create allocation file ${path}`, e);
    }
    try {
      writeSync(fd, `${containerId.trim()}${LINE_BREAK}${ifName}`);
    } catch (e) {
      closeSync(fd);
      unlinkSync(path);
      throw ioError(`cannot write allocation file ${path}`, e);
    }
    closeSync(fd);
    try {
      writeFileSync(join(this.dir, `${LAST_RESERVED}${rangeSet}`), formatIP(ip), { mode: 0o644 });
    } catch (e) {
      throw ioError(`cannot record the last reserved address in ${this.dir}`, e);
    }
    return true;
  }

  /** The address last handed out from a range set, if recorded and readable. */
  lastReserved(rangeSet: number): IP | undefined {
    try {
      return parseIP(readFileSync(join(this.dir, `${LAST_RESERVED}${rangeSet}`), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Every allocation file in the directory. */
  list(): Allocation[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      throw ioError(`cannot list IPAM directory ${this.dir}`, e);
    }
    const out: Allocation[] = [];
    for (const name of names) {
      const ip = parseIP(name);
      if (!ip) continue;
      let text: string;
      try {
        text = readFileSync(join(this.dir, name), 'utf8').trim();
      } catch {
        continue;
      }
      const nl = text.indexOf(LINE_BREAK);
      out.push(
        nl < 0
          ? { ip, containerId: text, ifName: '', file: name }
          : { ip, containerId: text.slice(0, nl), ifName: text.slice(nl + LINE_BREAK.length), file: name },
      );
    }
    return out;
  }

  /**
   * The allocations of an attachment: files naming the container and interface, or, when there
   * are none, files naming only the container (older format).
   */
  byAttachment(containerId: string, ifName: string): Allocation[] {
    const id = containerId.trim();
    const all = this.list();
    const exact = all.filter((a) => a.containerId === id && a.ifName === ifName);
    return exact.length ? exact : all.filter((a) => a.containerId === id && a.ifName === '');
  }

  /** Removes the allocation file of one address (missing is fine). */
  unreserve(ip: IP): void {
    try {
      unlinkSync(join(this.dir, formatIP(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot remove allocation ${formatIP(ip)} in ${this.dir}`, e);
    }
  }

  /** Removes the allocations of an attachment and returns their addresses. */
  release(containerId: string, ifName: string): IP[] {
    const released: IP[] = [];
    for (const a of this.byAttachment(containerId, ifName)) {
      try {
        unlinkSync(join(this.dir, a.file));
        released.push(a.ip);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot remove allocation ${formatIP(a.ip)} in ${this.dir}`, e);
      }
    }
    return released;
  }
}
