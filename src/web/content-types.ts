import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type * as MimeTypes from 'mime-types';

/**
 * Extensions (lower case, no dot) this project answers differently from the `mime-types` package
 * (mime-db), which gives every other type. `.cjs` is `application/node` there, which a browser
 * refuses to run as a script.
 */
export const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    cjs: 'text/javascript; charset=utf-8',
  }),
);

/** The type of files whose extension neither {@link CONTENT_TYPES} nor mime-db knows. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

// No cache in front of mime-types: a lookup costs ~1 µs (the old table ~0.3 µs) against ~140 µs of
// server CPU per static-file request, and static-file serving measured the same before and after
// (bench/servers/static-file.mjs under bench/tools/ab.sh, Node 24, interleaved rounds).

// mime-types loads the whole of mime-db (a 200 KB JSON table): ~15 ms and ~7 MiB of idle RSS at
// start-up (Node 24) for a service that may serve no file at all. Loaded on the first lookup.
let contentType: typeof MimeTypes.contentType | undefined;

function mimeDbType(ext: string): string | false {
  contentType ??= (createRequire(import.meta.url)('mime-types') as typeof MimeTypes).contentType;
  return contentType(ext);
}

/**
 * The `Content-Type` for a file name, from its extension: mime-db's type, with
 * `charset=utf-8` for text types (`.html` → `text/html; charset=utf-8`, `.png` → `image/png`).
 */
export function contentTypeFor(filename: string): string {
  const ext = extname(filename).slice(1).toLowerCase();
  if (ext === '') return DEFAULT_CONTENT_TYPE;
  return CONTENT_TYPES[ext] ?? (mimeDbType(ext) || DEFAULT_CONTENT_TYPE);
}
