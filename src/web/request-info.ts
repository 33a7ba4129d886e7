import type { IncomingMessage } from 'node:http';

// Facts about a request that do not depend on its handler: who sent it, over which protocol.

/**
 * The client's address: the socket's peer, or when `trustProxy` the `X-Real-IP` header, else the
 * last address of `X-Forwarded-For`.
 */
export function clientIp(request: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const real = request.headers['x-real-ip'];
    if (typeof real === 'string' && real.trim() !== '') return real.trim();
    const forwarded = request.headers['x-forwarded-for'];
    if (typeof forwarded === 'string') {
      const last = forwarded.split(',').pop()?.trim();
      if (last) return last;
    }
  }
  return request.socket.remoteAddress ?? '';
}

/**
 * `http` or `https`: from the connection, or when `trustProxy` from `X-Forwarded-Proto` (or
 * `X-Scheme`) when it names one of the two.
 */
export function requestProtocol(request: IncomingMessage, trustProxy: boolean): 'http' | 'https' {
  if (trustProxy) {
    const header = request.headers['x-forwarded-proto'] ?? request.headers['x-scheme'];
    const value = (typeof header === 'string' ? header.split(',').pop() : '')?.trim();
    if (value === 'http' || value === 'https') return value;
  }
  return (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
}
