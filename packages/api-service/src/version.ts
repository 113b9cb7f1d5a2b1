/** Versions reported by GetInfo. */

/** The v1alpha API version served, as rkt reported it. */
export const API_VERSION = '1.0.0-alpha';

/** The rkt (rktnetes) version; the build stamps the package version in. */
export function rktVersion(): string {
  return process.env.RKT_BUILD_VERSION ?? '0.0.0-dev';
}
