import { fileURLToPath } from 'node:url';
import { RequestHandler } from '../web/index.js';

/**
 * The directory of the page's files (`static/` at the root of the project), found from this module
 * both in `src/app/` and in the built `dist/app/`; the container image copies it to `/app/static`.
 */
export const STATIC_ROOT = fileURLToPath(new URL('../../static/', import.meta.url));

/** Options of {@link ChatPageHandler}. */
export interface ChatPageOptions {
  /** The page's HTML file. */
  readonly file: string;
}

/**
 * What the page may load: its own scripts, styles and connections (the long poll and the socket,
 * which `'self'` covers as `ws:`/`wss:` to the same host), nothing inline, no framing. A message
 * that somehow became markup could still run nothing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** `readFile` of `node:fs/promises`, loaded by the first page served (src/web/builtins.ts). */
function readFile(file: string): Promise<Buffer> {
  return process.getBuiltinModule('node:fs/promises').readFile(file);
}

const pages = new Map<string, Promise<Buffer>>();

/** The file's content, read once per process (a failed read is tried again next time). */
function load(file: string): Promise<Buffer> {
  let page = pages.get(file);
  if (page === undefined) {
    page = readFile(file);
    page.catch(() => pages.delete(file));
    pages.set(file, page);
  }
  return page;
}

/** `GET /chat/`: the chat as a web page (its script and styles are under `/static/`). */
export class ChatPageHandler extends RequestHandler<ChatPageOptions> {
  private file = '';

  override initialize(options: ChatPageOptions): void {
    this.file = options.file;
  }

  override async get(): Promise<void> {
    const html = this.application.settings.debug
      ? await readFile(this.file)
      : await load(this.file);
    this.setHeader('Content-Type', 'text/html; charset=utf-8');
    this.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    this.setHeader('Referrer-Policy', 'no-referrer');
    this.setHeader('Cache-Control', 'no-cache');
    this.finish(html);
  }
}
