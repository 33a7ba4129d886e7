// Part of `npm run build`: the service's entry, dist/main.js, bundled from src/ by esbuild, with
// what it loads later (start-up, then the lazy imports: Redis chat, trace export) split into
// chunks in dist/bundle/. The rest of dist/ stays tsc's output, one file per module: the framework
// as a library (`import … from 'tornode'`), its declarations, what the tests' fixtures import,
// and what `npm run dev` runs (its `tsc --watch` writes dist/main.js back as tsc's).
//
// Why (bench/analysis.md, "Idle memory"): ~90 ES modules loaded one by one make Node's module
// resolution (path.resolve, realpathSync, URL) hot enough at start-up for V8 to wake TurboFan
// (and ~20 more Maglev compiles): their code pages in the node binary and their memory stay
// resident for the process's life, ~7 MiB of idle RSS on Node 24. Bundled, they stay asleep.
//
// Packages are not bundled: they load from node_modules as before (prom-client's classes must be
// the very ones its index exports, see src/service/prom-client.ts; licences stay in their
// folders). Not minified. Source maps (linked, without the sources, as tsc's) map stack traces to
// src/ with --enable-source-maps.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * src/web/schema/vendor.ts finds dist/vendor/ at '../../vendor/' from dist/web/schema/; the
 * chunks are in dist/bundle/, one level up.
 */
const vendorPath = {
  name: 'vendor-path',
  setup(esbuild) {
    esbuild.onLoad({ filter: /[/\\]src[/\\]web[/\\]schema[/\\]vendor\.ts$/ }, ({ path }) => {
      const source = readFileSync(path, 'utf8');
      const contents = source.replaceAll("'../../vendor/", "'../vendor/");
      if (contents.split("'../vendor/").length !== 3) {
        throw new Error(`${path}: not the two bundle paths '../../vendor/…' expected`);
      }
      return { contents, loader: 'ts' };
    });
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
await build({
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
  plugins: [vendorPath],
  logLevel: 'warning',
});
