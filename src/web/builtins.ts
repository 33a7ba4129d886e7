/**
 * Node's built-in modules that only some requests or configurations use, loaded on first use, and
 * the values of `node:fs`, `node:net` and `node:buffer`, taken without an ES module namespace.
 *
 * `import … from 'node:crypto'` in an ES module loads the module as the service starts and builds
 * its namespace, which reads every export, lazy getters included: `node:fs`'s namespace loads
 * `fs/promises` (and with it readline and the REPL's history), `node:crypto`'s WebCrypto,
 * `node:net`'s `BlockList` and `SocketAddress`. On Node 24 the service's idle RSS was ~5 MiB higher
 * for `crypto`, `zlib` and `fs/promises` alone (bench/analysis.md, "Idle memory"), and a hello
 * request needs none of them: crypto signs cookies, checks XSRF tokens, makes trace ids and ETags,
 * zlib compresses large answers, `fs/promises` serves files. `process.getBuiltinModule` hands
 * over the module's own object, loading it only then. Type imports from these modules cost nothing.
 */
import type * as Crypto from 'node:crypto';
import type * as Fs from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import type * as Zlib from 'node:zlib';

let crypto: typeof Crypto | undefined;
let zlib: typeof Zlib | undefined;
let fsPromises: typeof FsPromises | undefined;

/** `node:crypto`, loaded on the first call. */
export function nodeCrypto(): typeof Crypto {
  crypto ??= process.getBuiltinModule('node:crypto');
  return crypto;
}

/** `node:zlib`, loaded on the first call. */
export function nodeZlib(): typeof Zlib {
  zlib ??= process.getBuiltinModule('node:zlib');
  return zlib;
}

/** `node:fs/promises`, loaded on the first call. */
export function nodeFsPromises(): typeof FsPromises {
  fsPromises ??= process.getBuiltinModule('node:fs/promises');
  return fsPromises;
}

/** `node:fs` (always loaded by Node itself), without its namespace's `promises` getter. */
export const nodeFs: typeof Fs = process.getBuiltinModule('node:fs');
