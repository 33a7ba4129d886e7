// The framework serving static/ (StaticFileHandler) and nothing else, for the static-file bench:
//   DIST=dist PORT=3999 node bench/servers/static-file.mjs
//   URLPATH=/static/chat.css bench/tools/ab.sh 5 'a|DIST=/tmp/a|bench/servers/static-file.mjs' …
// DIST points at a build of the framework, so two builds can be compared side by side.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '../..');
const dist = path.resolve(root, process.env.DIST ?? 'dist');
const { Application, HttpServer, StaticFileHandler, url } = await import(
  pathToFileURL(path.join(dist, 'index.js')).href
);
const app = new Application([
  url('/static/{path*}', StaticFileHandler, { root: path.join(root, 'static') }),
]);
const server = new HttpServer(app);
await server.listen(Number(process.env.PORT ?? 3999), process.env.HOST ?? '127.0.0.1');
process.on('SIGINT', () => process.exit(0));
