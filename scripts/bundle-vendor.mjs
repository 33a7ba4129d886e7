// Part of `npm run build`: dependencies that cost the start-up far more as hundreds of small files
// than as one, bundled into dist/vendor/ (one CommonJS file each, not minified, so stack traces
// stay readable). The packages stay dependencies: their types, and the fallback when a bundle is
// not there (running from src/ under Vitest), come from them. src/web/schema/vendor.ts loads them.
//
// Every package that ends up in a bundle has its name, version and licence text at the bundle's
// top (MIT and the like ask for the notice to go with every copy).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';

const bundles = [
  // TypeBox's builders only (`Type`, `Kind`, …): its compiler and value modules are not used.
  {
    out: 'dist/vendor/typebox-type.cjs',
    contents: "module.exports = require('@sinclair/typebox/type');",
  },
  // Ajv with its formats, and fast-json-stringify, which then uses this same Ajv.
  {
    out: 'dist/vendor/schema-validation.cjs',
    contents: [
      "exports.Ajv = require('ajv').Ajv;",
      "exports.addFormats = require('ajv-formats').default;",
      "exports.fastJson = require('fast-json-stringify');",
    ].join('\n'),
  },
];

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

for (const { out, contents } of bundles) {
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
  });
  const roots = [...new Set(Object.keys(result.metafile.inputs).map(packageRoot).filter(Boolean))];
  if (roots.length === 0) throw new Error(`${out}: no package bundled`);
  const header = `/*! Bundled by scripts/bundle-vendor.mjs from:\n\n${roots.sort().map(notice).join('\n\n---\n\n')}\n*/\n`;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, header + result.outputFiles[0].text);
}
