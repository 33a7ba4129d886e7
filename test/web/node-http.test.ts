import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Importing `node:http` as an ES module loads undici on Node ≥ 22.5 (its namespace reads the lazy
// `WebSocket` getter): start-up time no request needs. The framework takes node:http's values
// through `src/web/node-http.ts` instead; this keeps a stray `import … from 'node:http'` out.
describe('loading the framework', () => {
  it('does not load undici (node:http is not imported as an ES module)', () => {
    const entry = new URL('../../dist/index.js', import.meta.url).href;
    const script = `await import(${JSON.stringify(entry)});
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual([]);
  });

  it('still loads undici for node:http as an ES module (the check can fail)', () => {
    const script = `await import('node:http');
      console.log(process.moduleLoadList.some((m) => m.includes('undici')));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    // Node 20 has no undici getters on node:http: there the first test guards nothing yet.
    expect(out.stdout.trim()).toBe(String(major > 22 || (major === 22 && minor >= 5)));
  });
});
