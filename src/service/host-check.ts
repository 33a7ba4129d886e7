import { ConfigError } from './config.js';

/**
 * Checks that `HOST` names an address this machine can listen on: an IP address, or a name that
 * resolves. Throws a {@link ConfigError} naming `HOST` otherwise, before anything listens (the
 * alternative, a `getaddrinfo ENOTFOUND` stack from the listener, names no variable).
 */
export async function checkHost(host: string | undefined): Promise<void> {
  // From the modules' own objects (src/web/builtins.ts): `node:net`'s ES namespace would load
  // `BlockList` and `SocketAddress`, and a name to resolve is rare.
  if (host === undefined || process.getBuiltinModule('node:net').isIP(host) !== 0) return;
  try {
    await process.getBuiltinModule('node:dns/promises').lookup(host);
  } catch {
    throw new ConfigError('HOST', host, 'an IP address or a host name that resolves');
  }
}
