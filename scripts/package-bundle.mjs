// One CommonJS file bundled from packages by esbuild, with the licence notice of every package in
// it at its top (MIT and the like ask for the notice to go with every copy): used by
// scripts/bundle-vendor.mjs and scripts/precompile-schemas.mjs.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';

/** `node_modules/@scope/name/…` or `node_modules/name/…` → the package's folder. */
function packageRoot(file) {
  const parts = file.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return undefined;
  const length = parts[at + 1].startsWith('@') ? 3 : 2;
  return parts.slice(0, at + length).join('/');
}

/** One notice per package: name, version and its licence file's text. */
function notice(root) {
  const { name, version, license } = JSON.parse(
    readFileSync(path.join(root, 'package.json'), 'utf8'),
  );
  const file = readdirSync(root).find((f) => /^licen[cs]e(\.md|\.txt)?$/i.test(f));
  if (file === undefined) throw new Error(`${name}: no licence file to keep in its bundle`);
  const text = readFileSync(path.join(root, file), 'utf8').replaceAll('*/', '* /').trim();
  return `${name} ${version} (${license})\n\n${text}`;
}

/**
 * Bundles the CommonJS module `contents` (its `require`s resolved from the project's folder) into
 * the file `out`, opened by a comment naming `script` and every package bundled, each with its
 * name, version and licence text.
 */
export function writePackageBundle(script, out, contents, { minify = false } = {}) {
  const result = buildSync({
    stdin: { contents, resolveDir: process.cwd(), loader: 'js', sourcefile: path.basename(out) },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none', // the whole licence texts go at the top instead
    minify,
  });
  const inputs = Object.keys(result.metafile.inputs);
  const roots = [...new Set(inputs.map(packageRoot).filter(Boolean))];
  if (roots.length === 0) throw new Error(`${out}: no package bundled`);
  const header = `/*! Bundled by ${script} from:\n\n${roots.sort().map(notice).join('\n\n---\n\n')}\n*/\n`;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, header + result.outputFiles[0].text);
}
