// Run by tools/build.mjs after bundling (cwd is the package directory).
//
// The plugin is exec'd for every pod and opens no TLS connection, yet Node parses the whole CA
// bundle named by NODE_EXTRA_CA_CERTS at start-up (about 40 ms here). The shebang drops the
// variable for Node and keeps its value in CNI_BRIDGE_CA_CERTS, which the plugin puts back for
// the IPAM plugins it delegates to (src/env.ts, restoreCaCertsEnv).
import { readFileSync, writeFileSync } from 'node:fs';

export const SHEBANG = '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS CNI_BRIDGE_CA_CERTS=${NODE_EXTRA_CA_CERTS} node';

// Both executables: dist/cni-bridge.mjs and dist/bin/cni-bridge.cjs (the one the stage1 images
// run, which skips Node's ES module loader: packages/pod-net/scripts/stage1-image.mjs).
for (const file of ['dist/cni-bridge.mjs', 'dist/bin/cni-bridge.cjs']) {
  const text = readFileSync(file, 'utf8');
  const nl = text.indexOf('\n');
  if (!text.startsWith('#!')) throw new Error(`${file} has no shebang line`);
  writeFileSync(file, `${SHEBANG}${text.slice(nl)}`);
}
