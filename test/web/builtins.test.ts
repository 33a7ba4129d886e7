import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadedModules, startWatchedService } from '../support/loaded-modules.js';
import { send } from '../support/socket.js';

// src/web/builtins.ts: `node:crypto`, `node:zlib` and `node:fs/promises` (and what `node:fs`'s
// and `node:net`'s ES namespaces would load) are loaded by the requests that use them, not by
// start-up (bench/analysis.md, "Idle memory"). Every logged request needs crypto (its trace ids);
// a hello needs neither zlib nor fs/promises. A stray `import … from 'node:zlib'` anywhere on the
// service's start-up path fails the first test.
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

/**
 * The built-in modules that Node loads for an ES module entry that imports nothing: Node 20's own
 * ES module loader reads files through `fs/promises`, so there the service is not to blame for it.
 */
function loadedForAnEmptyEntry(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'builtins-'));
  try {
    const entry = join(dir, 'entry.mjs');
    writeFileSync(
      entry,
      "console.log(JSON.stringify(process.moduleLoadList.map((m) => m.replace('NativeModule ', ''))));",
    );
    const out = spawnSync(process.execPath, [entry], { encoding: 'utf8', timeout: 20_000 });
    return JSON.parse(out.stdout) as string[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('built-in modules loaded on first use', () => {
  it('start-up loads none of them; a hello request only crypto (its trace ids)', async () => {
    const byNode = loadedForAnEmptyEntry();
    expect(byNode).toContain('fs'); // the list is the real one
    const lazy = LAZY.filter((m) => !byNode.includes(m));
    expect(lazy).toEqual(expect.arrayContaining(['crypto', 'zlib', 'fs/promises']));
    const service = await startWatchedService();
    expect((await send(service.port, '/readyz')).status).toBe(200);
    const atStart = (await loadedModules(service)).builtinModules;
    expect(atStart).toContain('http'); // the list is the real one
    expect(atStart.filter((m) => lazy.includes(m))).toEqual([]);
    expect((await send(service.port, '/')).status).toBe(200);
    const afterHello = (await loadedModules(service)).builtinModules;
    expect(afterHello.filter((m) => lazy.includes(m) && m !== 'crypto')).toEqual([]);
  });

  it('the requests that need them load them (the check can fail)', async () => {
    const service = await startWatchedService();
    // A static file: fs/promises to read it, crypto for its content hash (its ETag).
    expect((await send(service.port, '/static/chat.js')).status).toBe(200);
    // The script again, compressed: over 1 KiB, and the example compresses.
    const compressed = await send(service.port, '/static/chat.js', {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(compressed.status).toBe(200);
    const loaded = (await loadedModules(service)).builtinModules;
    expect(loaded).toEqual(expect.arrayContaining(['crypto', 'fs/promises']));
    if (compressed.headers['content-encoding'] === 'gzip') expect(loaded).toContain('zlib');
  });
});
