/**
 * The URL schemes `rkt fetch` understands, one line each. A handler is loaded only when an
 * image of its scheme is fetched. Add a scheme by adding its line:
 *
 *     myscheme: () => import('./myscheme').then((m) => m.myScheme),
 */
import type { PullPolicy } from './index';
import type { FetchSession } from './session';
import type { SignatureSource } from './verify-import';

/** A request for one image URL. */
export interface SchemeRequest {
  /** the URL as given */
  url: string;
  /** how the user named the image (the URL), for messages */
  image: string;
  pullPolicy: PullPolicy;
  signature?: SignatureSource;
}

/** Fetches images of one URL scheme. */
export interface SchemeHandler {
  /**
   * Whether fetched images are remembered in the store's remotes table by URL: with a pull
   * policy other than `update`, a URL already there is not fetched again, and with `never`
   * an unknown URL is an error. The dispatcher handles both before calling {@link fetch}.
   */
  readonly remote: boolean;
  /** Fetches (or revalidates) the image and returns its store key. */
  fetch(s: FetchSession, req: SchemeRequest): Promise<string>;
}

const httpScheme = () => import('./remote-scheme').then((m) => m.httpScheme);

/** Scheme name (lowercase, no colon) -> handler loader. */
export const SCHEMES: Readonly<Record<string, () => Promise<SchemeHandler>>> = {
  http: httpScheme,
  https: httpScheme,
  docker: () => import('./docker').then((m) => m.dockerScheme),
  'docker-archive': () => import('./oci-layout').then((m) => m.dockerArchiveScheme),
  oci: () => import('./oci-layout').then((m) => m.ociScheme),
  'oci-archive': () => import('./oci-layout').then((m) => m.ociArchiveScheme),
};
