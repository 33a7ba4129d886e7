import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError } from './config.js';

/**
 * Checks that `HOST` names an address this machine can listen on: an IP address, or a name that
 * resolves. Throws a {@link ConfigError} naming `HOST` otherwise, before anything listens (the
 * alternative, a `getaddrinfo ENOTFOUND` stack from the listener, names no variable).
 */
export async function checkHost(host: string | undefined): Promise<void> {
  if (host === undefined || isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch {
    throw new ConfigError('HOST', host, 'an IP address or a host name that resolves');
  }
}
