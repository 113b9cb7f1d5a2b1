/** The `http` and `https` scheme handler: an ACI at a URL. */
import type { SchemeHandler } from './schemes';
import { fetchRemoteImage } from './remote';

export const httpScheme: SchemeHandler = {
  remote: true,
  fetch: (s, req) =>
    fetchRemoteImage(s, {
      url: req.url,
      image: req.image,
      ...(req.signature ? { signature: req.signature } : {}),
      expect: {},
      latest: false,
    }),
};
