/**
 * The built entry, dist/main.js, is src/main.ts bundled with what it loads
 * (scripts/bundle-service.mjs): the service starts from a few files in dist/bundle/, not from
 * tsc's one file per module, which stay in dist/ for the library and `npm run dev`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadedModules, startWatchedService } from './support/loaded-modules.js';

const DIST = path.resolve(import.meta.dirname, '../dist');

/** The relative specifiers of a module's static and dynamic imports. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = text.matchAll(/(?:^import\s[^;]*?|\bimport\()\s*["'](\.{1,2}\/[^"']+)["']/gm);
  return [...found].map((match) => match[1] as string);
}

describe('dist/main.js', () => {
  it('and everything it imports are the bundle in dist/bundle/', () => {
    const seen = new Set<string>();
    const pending = [path.join(DIST, 'main.js')];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      for (const specifier of relativeImports(file)) {
        pending.push(path.resolve(path.dirname(file), specifier));
      }
    }
    const modules = [...seen].map((file) => path.relative(DIST, file)).sort();
    expect(modules).toContain('main.js');
    expect(modules.filter((m) => m !== 'main.js' && !/^bundle\/[\w-]+\.js$/.test(m))).toEqual([]);
    // The lazy imports are chunks of their own: the start chunk and a few shared ones.
    expect(modules.some((m) => m.startsWith('bundle/start-'))).toBe(true);
    const chunks = readdirSync(path.join(DIST, 'bundle')).filter((f) => f.endsWith('.js'));
    expect(chunks.length).toBeLessThan(20);
  });

  it('takes its schemas precompiled from dist/vendor/: Ajv and fast-json-stringify stay unloaded', async () => {
    const service = await startWatchedService();
    const files = (await loadedModules(service)).requiredFiles.map((f) =>
      path.relative(path.dirname(DIST), f),
    );
    expect(files).toContain('dist/vendor/typebox-type.cjs');
    expect(files).toContain('dist/vendor/schemas-precompiled.cjs');
    expect(files).not.toContain('dist/vendor/schema-validation.cjs');
    const packages = /^node_modules\/(@sinclair\/typebox|ajv|ajv-formats|fast-json-stringify)\//;
    expect(files.filter((f) => packages.test(f))).toEqual([]);
  });

  it('takes pino, negotiator and secure-json-parse from dist/vendor/; of node_modules/ only prom-client', async () => {
    const service = await startWatchedService();
    const files = (await loadedModules(service)).requiredFiles.map((f) =>
      path.relative(path.dirname(DIST), f),
    );
    expect(files).toContain('dist/vendor/service-packages.cjs');
    // prom-client stays the package: its registries are shared with an app's own import of it.
    expect(files.some((f) => f.startsWith('node_modules/prom-client/'))).toBe(true);
    const fromPackages = files.filter(
      (f) => f.startsWith('node_modules/') && !f.startsWith('node_modules/prom-client/'),
    );
    expect(fromPackages).toEqual([]);
    // No chunk imports them from their packages either (scripts/bundle-service.mjs).
    const bundle = [
      path.join(DIST, 'main.js'),
      ...readdirSync(path.join(DIST, 'bundle'))
        .filter((f) => f.endsWith('.js'))
        .map((f) => path.join(DIST, 'bundle', f)),
    ];
    const imported = bundle.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^import\s[^;]*?["']([^"'.][^"']*)["']/gm)].map(
        (match) => match[1] as string,
      ),
    );
    expect(imported).toContain('node:module');
    for (const name of ['pino', 'negotiator', 'secure-json-parse']) {
      expect(imported).not.toContain(name);
    }
  });
});
