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

  // Node 24's tick loop keeps inline caches of the functions behind its context frames, which
  // Node installs lazily (24.21 swaps the class's prototype; later 24.x releases, 24.22.3 in the
  // container's base image, set them as properties); a tick queued before that leaves the caches
  // polymorphic (~10 % of a small request's CPU on 24.21). src/web/async-context.ts makes Node
  // install them when the framework loads. Checked by what `current` is, whichever way it is
  // installed.
  it("settles Node's async context frame functions as it loads", () => {
    const entry = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      let frame = null;
      let enabled = false;
      try {
        frame = require('internal/async_context_frame');
        enabled = require('internal/options').getOptionValue('--async-context-frame');
      } catch {}
      const current = () => (frame === null ? null : frame.current);
      const before = current();
      import(${JSON.stringify(entry)}).then(() =>
        console.log(JSON.stringify({
          frames: frame !== null,
          changed: current() !== before,
          enabled,
        })));`;
    const out = spawnSync(process.execPath, ['--expose-internals', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const { frames, changed, enabled } = JSON.parse(out.stdout);
    const major = Number(process.versions.node.split('.')[0]);
    if (major >= 24) expect([frames, enabled]).toEqual([true, true]);
    // Enabled: the inactive no-op `current` was replaced while the framework loaded. Node 20 has
    // no context frames at all: nothing to change.
    expect(changed).toBe(enabled);
  });
});
