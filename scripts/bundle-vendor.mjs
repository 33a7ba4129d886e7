// Part of `npm run build`: dependencies that cost the start-up far more as hundreds of small files
// than as one, bundled into dist/vendor/ (one CommonJS file each). The packages stay dependencies:
// their types, and the fallback when a bundle is not there (running from src/ under Vitest), come
// from them. src/web/schema/vendor.ts loads them.
//
// Minified: V8 keeps a script's source text in the heap for as long as its functions live, here
// the process's life; minified, the two bundles are ~400 KB instead of ~900 KB and the service
// idles ~1.3 MiB lower (bench/analysis.md, "Idle memory"). Names are not kept (esbuild's
// `keepNames` sets the name of every function as the bundle loads: 0.5 MiB more and a few ms of
// start-up); the packages read no function's name. The cost: a stack trace into them (a schema
// Ajv or fast-json-stringify rejects, when a route is added) names methods but shows other
// functions by their one-letter names, at a column of a long line. No source map: under
// `--enable-source-maps` (NODE_OPTIONS, off in the image) Node reads and keeps every loaded file's map, and
// these two cost the image's service +3.6 MiB of idle RSS.
//
// Every package that ends up in a bundle has its name, version and licence text at the bundle's
// top (MIT and the like ask for the notice to go with every copy).
import { writePackageBundle } from './package-bundle.mjs';

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
  // The packages the service loads at start-up, for dist/main.js's bundle only
  // (scripts/bundle-service.mjs): one minified file instead of ~35 from node_modules/.
  {
    out: 'dist/vendor/service-packages.cjs',
    contents: [
      "exports.pino = require('pino');",
      "exports.Negotiator = require('negotiator');",
      "exports.secureJson = require('secure-json-parse');",
    ].join('\n'),
  },
];

for (const { out, contents } of bundles) {
  writePackageBundle('scripts/bundle-vendor.mjs', out, contents, { minify: true });
}
