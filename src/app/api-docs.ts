import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import {
  type OpenApiInfo,
  openApiDocument,
  RequestHandler,
  type RouteEntry,
  StaticFileHandler,
  url,
} from '../web/index.js';

// `node:fs` without its ES namespace, which would load `fs/promises` (src/web/builtins.ts).
const { readFileSync } = process.getBuiltinModule('node:fs');

/** Where the API document and its reference page are served; `null` leaves one out. */
export interface ApiDocsOptions {
  /** Default `/openapi.json`. */
  readonly openApiPath?: string | null;
  /** Default `/docs` (the page needs the document: no document, no page). */
  readonly docsPath?: string | null;
}

/** The document's `info`, from the project's `package.json` (`src/app/` and `dist/app/` alike). */
export function packageInfo(): OpenApiInfo {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
    description?: string;
  };
  const info = { title: pkg.name, version: pkg.version };
  return pkg.description === undefined ? info : { ...info, description: pkg.description };
}

/** `GET /openapi.json`: the document, serialized once. */
export class OpenApiHandler extends RequestHandler<{ json: string }> {
  private document = '';

  override initialize(options: { json: string }): void {
    this.document = options.json;
  }

  override get(): void {
    this.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.setHeader('Cache-Control', 'no-cache');
    this.finish(this.document);
  }
}

/** Swagger UI needs inline styles (it sets `style` attributes); scripts only from here. */
const DOCS_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface DocsOptions {
  readonly body: string;
  readonly type: string;
}

/** The reference page and its start-up script (no inline script: the policy allows none). */
export class DocsPageHandler extends RequestHandler<DocsOptions> {
  private page: DocsOptions = { body: '', type: '' };

  override initialize(options: DocsOptions): void {
    this.page = options;
  }

  override get(): void {
    this.setHeader('Content-Type', this.page.type);
    this.setHeader('Content-Security-Policy', DOCS_POLICY);
    this.setHeader('Referrer-Policy', 'no-referrer');
    this.setHeader('Cache-Control', 'no-cache');
    this.finish(this.page.body);
  }
}

function docsHtml(docsPath: string, openApiPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${docsPath}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-url="${openApiPath}"></div>
<script src="${docsPath}/assets/swagger-ui-bundle.js"></script>
<script src="${docsPath}/start.js"></script>
</body>
</html>
`;
}

const START_SCRIPT = `'use strict';
const root = document.getElementById('swagger-ui');
window.ui = SwaggerUIBundle({
  url: root.dataset.url,
  domNode: root,
  deepLinking: true,
  validatorUrl: null, // its default badge is an image from another host
});
`;

/**
 * The routes of the API document (built now, from `routes`) and of its reference page (Swagger UI
 * from its npm package, served from here: nothing is loaded from another host).
 */
export function apiDocsRoutes(
  routes: readonly RouteEntry[],
  info: OpenApiInfo,
  options: ApiDocsOptions = {},
): RouteEntry[] {
  const openApiPath = options.openApiPath === undefined ? '/openapi.json' : options.openApiPath;
  const docsPath = options.docsPath === undefined ? '/docs' : options.docsPath;
  if (openApiPath === null) return [];
  const json = JSON.stringify(openApiDocument(routes, info));
  const entries: RouteEntry[] = [url(openApiPath, OpenApiHandler, { json }, 'openapi')];
  if (docsPath === null) return entries;
  const assets = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const html = docsHtml(docsPath, openApiPath);
  const script = START_SCRIPT;
  entries.push(
    url(docsPath, DocsPageHandler, { body: html, type: 'text/html; charset=utf-8' }, 'docs'),
    url(`${docsPath}/start.js`, DocsPageHandler, {
      body: script,
      type: 'text/javascript; charset=utf-8',
    }),
    url(`${docsPath}/assets/{path:swagger-ui(?:-bundle\\.js|\\.css)}`, StaticFileHandler, {
      root: assets,
      defaultFilename: null,
    }),
  );
  return entries;
}
