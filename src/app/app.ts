import { Application, type ApplicationSettings, type RouteEntry, url } from '../web/index.js';
import { MessagesHandler } from './chat-handlers.js';
import { ChatRoom, type ChatStore } from './chat-room.js';
import { MainHandler } from './hello.js';

/** The example service's routes: the greeting and the long-poll chat backed by `room`. */
export function exampleRoutes(room: ChatStore): RouteEntry[] {
  return [
    url('/', MainHandler, undefined, 'home'),
    url('/chat/messages', MessagesHandler, { room }, 'messages'),
  ];
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
