import { describe, expect, it } from 'vitest';
import { fixture, type ServiceProcess, startService } from '../support/process.js';
import { send } from '../support/socket.js';

// src/web/builtins.ts: `node:crypto`, `node:zlib` and `node:fs/promises` (and what `node:fs`'s
// and `node:net`'s ES namespaces would load) are loaded by the requests that use them, not by
// start-up: ~1–2 MiB of idle RSS on Node 24 (bench/analysis.md, "Idle memory"). A stray
// `import … from 'node:crypto'` anywhere on the service's start-up path fails the first test.
const PROBE = fixture('loaded-builtins.mjs');
const LAZY = [
  'crypto',
  'internal/crypto/webcrypto',
  'zlib',
  'fs/promises',
  'internal/fs/promises',
  'internal/readline/interface',
  'internal/blocklist',
  'internal/socketaddress',
];

let asked = 0;

/** The built-in modules the service has loaded so far (the fixture answers SIGUSR2). */
async function loadedBuiltins(service: ServiceProcess): Promise<string[]> {
  const before = ++asked;
  service.signal('SIGUSR2');
  const line = await service.waitUntil(
    () => service.logLines.filter((l) => Array.isArray(l.builtinModules))[before - 1],
    10_000,
    'the list of loaded built-in modules',
  );
  return line.builtinModules as string[];
}

describe('built-in modules loaded on first use', () => {
  it('start-up loads none of them; a hello request only crypto (its trace ids)', async () => {
    asked = 0;
    const service = await startService({}, { script: PROBE });
    expect((await send(service.port, '/readyz')).status).toBe(200);
    const atStart = await loadedBuiltins(service);
    expect(atStart).toContain('http'); // the list is the real one
    expect(atStart.filter((m) => LAZY.includes(m))).toEqual([]);
    expect((await send(service.port, '/')).status).toBe(200);
    const afterHello = await loadedBuiltins(service);
    expect(afterHello.filter((m) => LAZY.includes(m) && m !== 'crypto')).toEqual([]);
  });

  it('the requests that need them load them (the check can fail)', async () => {
    asked = 0;
    const service = await startService({}, { script: PROBE });
    // A static file: fs/promises to read it, crypto for its content hash (its ETag).
    expect((await send(service.port, '/static/chat.js')).status).toBe(200);
    // The script again, compressed: over 1 KiB, and the example compresses.
    const compressed = await send(service.port, '/static/chat.js', {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(compressed.status).toBe(200);
    const loaded = await loadedBuiltins(service);
    expect(loaded).toEqual(expect.arrayContaining(['crypto', 'fs/promises']));
    if (compressed.headers['content-encoding'] === 'gzip') expect(loaded).toContain('zlib');
  });
});
