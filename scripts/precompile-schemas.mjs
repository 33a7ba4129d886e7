// Part of `npm run build`, after scripts/bundle-vendor.mjs: the validators and serializers of the
// service's routes compiled ahead of time, as Ajv's and fast-json-stringify's standalone code, into
// dist/vendor/schemas-precompiled.cjs. At start-up src/web/schema/compile.ts takes them from there
// by their schema's JSON text and options, and the service runs without loading Ajv or
// fast-json-stringify at all: about 4 MiB less idle memory and no code generation at start-up
// (bench/analysis.md, "Idle memory"). A schema the build did not see, or one changed since,
// compiles at start-up as before, so a stale file costs time, never correctness.
//
// The routes are the ones src/start.ts serves (`exampleRoutes`): a service that serves others
// builds its Application from them here. The Application compiles their schemas as it is made;
// what it compiled is listed by `schemasCompiledAtRunTime()` and compiled again here in
// standalone mode, with the same Ajv options (`ajvOptions`).
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writePackageBundle } from './package-bundle.mjs';

const OUT = 'dist/vendor/schemas-precompiled.cjs';
const require = createRequire(import.meta.url);
const fromDist = (file) => import(pathToFileURL(path.resolve('dist', file)).href);

// An earlier build's file would be taken instead of compiling, and what it holds not listed.
rmSync(OUT, { force: true });
const { Application } = await fromDist('web/index.js');
const { exampleRoutes } = await fromDist('app/app.js');
const { ChatRoom } = await fromDist('app/chat-room.js');
const { ajvOptions, schemasCompiledAtRunTime } = await fromDist('web/schema/compile.js');

new Application(exampleRoutes(new ChatRoom(1)));

const { Ajv } = require('ajv');
const addFormats = require('ajv-formats').default;
const standaloneCode = require('ajv/dist/standalone').default;
const fastJson = require('fast-json-stringify');

/** Ajv instances by options, with formats that standalone code requires from ajv-formats. */
const instances = new Map();
function ajvFor(kind, allErrors) {
  const key = `${kind} ${allErrors}`;
  if (!instances.has(key)) {
    const ajv = new Ajv({
      ...ajvOptions(kind, allErrors),
      code: { source: true, formats: formatsCode() },
    });
    addFormats(ajv);
    instances.set(key, ajv);
  }
  return instances.get(key);
}

/** `require("ajv-formats/dist/formats").fullFormats`, as Ajv's code template. */
function formatsCode() {
  const { _ } = require('ajv/dist/compile/codegen');
  return _`require("ajv-formats/dist/formats").fullFormats`;
}

/** One CommonJS module's code, run in a scope of its own: its `module.exports`. */
const scoped = (code) =>
  `(() => {\nconst module = { exports: {} };\nconst exports = module.exports;\n${code}\nreturn module.exports;\n})()`;

const validators = [];
const serializers = [];
const seen = new Set();
for (const entry of schemasCompiledAtRunTime()) {
  if (seen.has(entry.key)) continue;
  seen.add(entry.key);
  if (entry.kind === 'serializer') {
    const code = fastJson(entry.schema, { mode: 'standalone' });
    serializers.push(`  [${JSON.stringify(entry.key)}, ${scoped(code)}],`);
  } else {
    const ajv = ajvFor(entry.kind, entry.allErrors);
    const code = standaloneCode(ajv, ajv.compile(entry.schema));
    validators.push(`  [${JSON.stringify(entry.key)}, ${scoped(code)}],`);
  }
}

const contents = [
  "'use strict';",
  'exports.validators = new Map([',
  ...validators,
  ']);',
  'exports.serializers = new Map([',
  ...serializers,
  ']);',
].join('\n');
writePackageBundle('scripts/precompile-schemas.mjs', OUT, contents);
console.log(
  `${OUT}: ${validators.length} validators, ${serializers.length} serializers precompiled`,
);
process.exit(0); // the routes' state (timers, the room) is not this script's to wind down
