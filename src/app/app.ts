import { join } from 'node:path';
import {
  Application,
  type ApplicationSettings,
  RedirectHandler,
  type RouteEntry,
  StaticFileHandler,
  url,
} from '../web/index.js';
import { type ApiDocsOptions, apiDocsRoutes, packageInfo } from './api-docs.js';
import { MessagesHandler } from './chat-handlers.js';
import { ChatPageHandler, STATIC_ROOT } from './chat-page.js';
import { ChatRoom, type ChatStore } from './chat-room.js';
import { ChatSocketHandler } from './chat-socket.js';
import { MainHandler } from './hello.js';

/**
 * The example service's routes: the greeting, the chat backed by `room` (its page, the long-poll
 * API, the WebSocket, and the page's files under `/static/`), and the API's OpenAPI document at
 * `/openapi.json` with its reference page at `/docs` (`apiDocs` moves them, `null` paths leave
 * them out).
 */
export function exampleRoutes(room: ChatStore, apiDocs: ApiDocsOptions = {}): RouteEntry[] {
  const routes: RouteEntry[] = [
    url('/', MainHandler, undefined, 'home'),
    url('/chat', RedirectHandler, { url: '/chat/', permanent: true }),
    url('/chat/', ChatPageHandler, { file: join(STATIC_ROOT, 'chat.html') }, 'chat'),
    url('/chat/messages', MessagesHandler, { room }, 'messages'),
    url('/chat/socket', ChatSocketHandler, { room }, 'chat-socket'),
    url('/static/{path*}', StaticFileHandler, { root: STATIC_ROOT }, 'static'),
  ];
  return [...routes, ...apiDocsRoutes(routes, packageInfo(), apiDocs)];
}

/** The example service: its application and the state behind it. */
export interface ExampleService {
  readonly app: Application;
  readonly room: ChatRoom;
}

/** Builds the example application alone (no probes, logs or metrics): handy in tests. */
export function createExampleApp(settings: ApplicationSettings = {}): ExampleService {
  const room = new ChatRoom(1000);
  return { app: new Application(exampleRoutes(room), settings), room };
}
