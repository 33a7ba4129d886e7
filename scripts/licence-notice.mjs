// The licence notices a bundle of packages carries at its top (MIT and the like ask for the
// notice to go with every copy): used by scripts/bundle-vendor.mjs and
// scripts/precompile-schemas.mjs.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

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
 * The comment that opens a bundle: by `script`, from the packages among esbuild's `metafile`
 * inputs, each with its name, version and licence text.
 */
export function licenceHeader(script, metafile, out) {
  const roots = [...new Set(Object.keys(metafile.inputs).map(packageRoot).filter(Boolean))];
  if (roots.length === 0) throw new Error(`${out}: no package bundled`);
  return `/*! Bundled by ${script} from:\n\n${roots.sort().map(notice).join('\n\n---\n\n')}\n*/\n`;
}
