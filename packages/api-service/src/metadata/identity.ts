/**
 * The identity endpoint's HMAC (appc ace.md "Identity Endpoint"): HMAC-SHA512 over the pod's
 * 16 uuid bytes followed by the content, with a key generated when the service starts, base64
 * encoded. A signature can be checked by any pod for as long as the service runs.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The raw 16 bytes of a canonical uuid. */
export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export class PodIdentity {
  constructor(private readonly key: Buffer = randomBytes(64)) {}

  /** base64(HMAC-SHA512(key, uuid bytes ‖ content)). */
  sign(uuid: string, content: string): string {
    return this.mac(uuid, content).toString('base64');
  }

  /** Whether `signature` (base64) is what {@link sign} gives for this uuid and content. */
  verify(uuid: string, content: string, signature: string): boolean {
    const given = Buffer.from(signature, 'base64');
    const want = this.mac(uuid, content);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private mac(uuid: string, content: string): Buffer {
    return createHmac('sha512', this.key).update(uuidBytes(uuid)).update(content, 'utf8').digest();
  }
}
