import { extname } from 'node:path';

const UTF8 = '; charset=utf-8';

/** File extension (lower case, no dot) → `Content-Type` for the files a web service serves. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    html: `text/html${UTF8}`,
    htm: `text/html${UTF8}`,
    css: `text/css${UTF8}`,
    js: `text/javascript${UTF8}`,
    mjs: `text/javascript${UTF8}`,
    cjs: `text/javascript${UTF8}`,
    json: `application/json${UTF8}`,
    map: `application/json${UTF8}`,
    webmanifest: `application/manifest+json${UTF8}`,
    txt: `text/plain${UTF8}`,
    md: `text/markdown${UTF8}`,
    csv: `text/csv${UTF8}`,
    xml: `application/xml${UTF8}`,
    svg: 'image/svg+xml',
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    webp: 'image/webp',
    avif: 'image/avif',
    ico: 'image/x-icon',
    woff: 'font/woff',
    woff2: 'font/woff2',
    ttf: 'font/ttf',
    otf: 'font/otf',
    wasm: 'application/wasm',
    pdf: 'application/pdf',
    mp3: 'audio/mpeg',
    mp4: 'video/mp4',
    webm: 'video/webm',
    zip: 'application/zip',
    gz: 'application/gzip',
  }),
);

/** The type of files whose extension is not in {@link CONTENT_TYPES}. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The `Content-Type` for a file name, from its extension. */
export function contentTypeFor(filename: string): string {
  const ext = extname(filename).slice(1).toLowerCase();
  return CONTENT_TYPES[ext] ?? DEFAULT_CONTENT_TYPE;
}
