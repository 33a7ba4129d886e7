import { Application, type ApplicationSettings, url } from '../web/index.js';
import { MessagesHandler } from './chat-handlers.js';
import { ChatRoom } from './chat-room.js';
import { MainHandler } from './hello.js';

/** The example service: its application and the state behind it. */
export interface ExampleService {
  readonly app: Application;
  readonly room: ChatRoom;
}

/** Builds the example service's application: the greeting and the long-poll chat. */
export function createExampleApp(settings: ApplicationSettings = {}): ExampleService {
  const room = new ChatRoom(1000);
  const app = new Application(
    [
      url('/', MainHandler, undefined, 'home'),
      url('/chat/messages', MessagesHandler, { room }, 'messages'),
    ],
    settings,
  );
  return { app, room };
}
