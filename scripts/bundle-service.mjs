// Part of `npm run build`, after tsc: the service's entry, dist/main.js, bundled by esbuild from
// src/main.ts and tsc's output of everything it imports, with what it loads later (start-up, then
// the lazy imports: Redis chat, trace export) split into chunks in dist/bundle/. The rest of dist/
// stays tsc's output, one file per module: the framework as a library (`import … from 'tornode'`),
// its declarations, what the tests' fixtures import, and what `npm run dev` runs (its
// `tsc --watch` writes dist/main.js back as tsc's).
//
// Why (bench/analysis.md, "Idle memory"): ~90 ES modules loaded one by one make Node's module
// resolution (path.resolve, realpathSync, URL) hot enough at start-up for V8 to wake TurboFan
// (and ~20 more Maglev compiles): their code pages in the node binary and their memory stay
// resident for the process's life, ~7 MiB of idle RSS on Node 24. Bundled, they stay asleep.
//
// The modules are tsc's output, not src/ again: the same compiled code as the library's, and
// without comments (esbuild keeps some, and V8 keeps every module's source text in the heap).
// Packages are not bundled into it: they load from node_modules as before (prom-client's classes
// must be the very ones its index exports, see src/service/prom-client.ts), except those
// start-up loads, which come from one minified file, dist/vendor/service-packages.cjs (see
// SERVICE_PACKAGES below; 1.1 MiB less idle RSS than ~35 CommonJS files from node_modules, and
// not in the chunks' source maps, which --enable-source-maps parses). Not minified. Source maps
// (linked, through tsc's, without the sources) map stack traces to src/ with --enable-source-maps.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * dist/main.js is what this writes, so the entry is read from src/main.ts (it has no comment
 * esbuild keeps), and its imports are tsc's files in dist/.
 */
const fromTscOutput = {
  name: 'from-tsc-output',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^\.\.?\// }, ({ path: specifier, resolveDir, importer }) => {
      if (path.relative('src', importer) !== 'main.ts') return undefined;
      return { path: path.resolve('dist', path.relative('src', resolveDir), specifier) };
    });
  },
};

/**
 * dist/web/schema/vendor.js finds dist/vendor/ at '../../vendor/'; the chunks are in dist/bundle/,
 * one level up.
 */
const vendorPath = {
  name: 'vendor-path',
  setup(esbuild) {
    esbuild.onLoad({ filter: /[/\\]dist[/\\]web[/\\]schema[/\\]vendor\.js$/ }, ({ path: file }) => {
      const source = readFileSync(file, 'utf8');
      const contents = source.replaceAll("'../../vendor/", "'../vendor/");
      if (contents.split("'../vendor/").length !== 4) {
        throw new Error(`${file}: not the three bundle paths '../../vendor/…' expected`);
      }
      return { contents, loader: 'js', resolveDir: path.dirname(file) };
    });
  },
};

/**
 * The packages the service loads at start-up, taken from dist/vendor/service-packages.cjs
 * (scripts/bundle-vendor.mjs): the export of that bundle each is, and the modules (in dist/) whose
 * import of it is: every other import of a package stays an import from node_modules. pino only for
 * the service's logger (src/service/logging.ts): its transports (`pino.transport`, the `transport`
 * option) start a worker from a file found by path in its package folder, which a bundled copy
 * does not have; the logger uses none, and code of the app that imports `pino` gets the package,
 * transports and all. negotiator and secure-json-parse hold no state: the bundled copy serves all.
 */
const SERVICE_PACKAGES = {
  pino: { name: 'pino', importers: ['service/logging.js'] },
  negotiator: { name: 'Negotiator' },
  'secure-json-parse': { name: 'secureJson' },
};

const servicePackages = {
  name: 'service-packages',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^[\w@]/ }, ({ path: specifier, importer }) => {
      const bundled = Object.hasOwn(SERVICE_PACKAGES, specifier) && SERVICE_PACKAGES[specifier];
      if (!bundled) return undefined;
      const from = path.relative('dist', importer).split(path.sep).join('/');
      if (bundled.importers !== undefined && !bundled.importers.includes(from)) return undefined;
      return { path: specifier, namespace: 'service-packages' };
    });
    // Chunks are in dist/bundle/ (never dist/main.js itself: checked below).
    esbuild.onLoad({ filter: /.*/, namespace: 'service-packages' }, ({ path: specifier }) => ({
      contents: [
        "import { createRequire } from 'node:module';",
        'const require = createRequire(import.meta.url);',
        `export default require('../vendor/service-packages.cjs').${SERVICE_PACKAGES[specifier].name};`,
      ].join('\n'),
      loader: 'js',
      resolveDir: path.resolve('dist/bundle'),
    }));
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
const result = await build({
  entryPoints: { main: 'src/main.ts' },
  outdir: 'dist',
  // One level under dist/, as the modules in dist/app/ and dist/service/: their paths relative to
  // `import.meta.url` (package.json, static/) hold in the chunks too.
  chunkNames: 'bundle/[name]-[hash]',
  bundle: true,
  splitting: true,
  packages: 'external',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  sourcesContent: false,
  plugins: [fromTscOutput, vendorPath, servicePackages],
  metafile: true,
  logLevel: 'warning',
});
if (
  Object.keys(result.metafile.outputs['dist/main.js'].inputs).some((f) =>
    f.startsWith('service-packages:'),
  )
) {
  throw new Error(
    "dist/main.js: a package from '../vendor/service-packages.cjs' is one level off there",
  );
}
