import secureJson from 'secure-json-parse';
import { HttpError, validateBody, WebSocketHandler } from '../web/index.js';
import { type ChatOptions, checkTextBytes, PostMessage } from './chat-handlers.js';
import type { ChatMessage, ChatStore } from './chat-room.js';

/** A socket whose client lets this much pile up unread is closed (1008): it cannot keep up. */
export const MAX_BACKLOG_BYTES = 1024 * 1024;

// A broadcast hands the same message to every socket's listener in turn: it is serialised once
// for all of them (the last one serialised is remembered), not once per socket.
let lastMessage: ChatMessage | null = null;
let lastJson = '';

function messageJson(message: ChatMessage): string {
  if (message !== lastMessage) {
    lastJson = JSON.stringify(message);
    lastMessage = message;
  }
  return lastJson;
}

/**
 * `GET /chat/socket` (WebSocket): the chat over one connection.
 *
 * - Every new message (posted over HTTP or a socket, on any worker) arrives as a text frame
 *   `{"id", "text", "at"}`, in id order. With `?after=ID` the messages newer than `ID` come first
 *   (a client that loaded the history with `GET /chat/messages` misses nothing in between).
 * - Send `{"text": "..."}` to post (the same rules as `POST /chat/messages`); the message comes
 *   back like any other. A message that cannot be posted is answered with
 *   `{"error": {"status", "detail"}}` and the connection stays open.
 * - Only pages of the same origin may connect (403 otherwise). Pings every 25 s drop dead peers.
 */
export class ChatSocketHandler extends WebSocketHandler<ChatOptions> {
  override maxMessageSize = 64 * 1024;
  override pingIntervalMs = 25_000;
  private room!: ChatStore;
  private after = -1;
  private unsubscribe: (() => void) | null = null;

  override initialize(options: ChatOptions): void {
    this.room = options.room;
  }

  override prepare(): void {
    const after = this.getQueryArgument('after', '');
    if (after === '') return;
    if (!/^\d{1,15}$/.test(after)) {
      throw new HttpError(400, 'after must be a message id (a non-negative integer)');
    }
    this.after = Number(after);
  }

  override open(): void {
    // In one turn: what is there now, then everything that arrives; nothing missed or repeated.
    const backlog = this.after < 0 ? [] : this.room.since(this.after);
    this.unsubscribe = this.room.subscribe((message) => this.forward(message));
    for (const message of backlog) this.forward(message);
  }

  override async onMessage(message: string | Buffer): Promise<void> {
    let text: string;
    try {
      if (typeof message !== 'string') throw new HttpError(422, 'send text frames');
      let body: unknown;
      try {
        body = secureJson.parse(message, null, {
          protoAction: 'error',
          constructorAction: 'error',
        });
      } catch {
        throw new HttpError(400, 'expected JSON like {"text": "..."}');
      }
      // The validator and the byte cap POST /chat/messages uses.
      text = checkTextBytes(validateBody(PostMessage, body).text);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      await this.reportError(error);
      return;
    }
    try {
      await this.room.publish(text);
    } catch (error) {
      this.log.error({ err: error }, 'chat: posting from a socket failed');
      await this.reportError(new HttpError(503, 'the message could not be posted; try again'));
    }
  }

  override onClose(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private forward(message: ChatMessage): void {
    if (this.bufferedAmount > MAX_BACKLOG_BYTES) {
      this.close(1008, 'too slow');
      return;
    }
    void this.writeMessage(messageJson(message));
  }

  /** Tells this client why its message was not posted (a closed socket is nobody to tell). */
  private reportError(error: HttpError): Promise<void> {
    const frame = { error: { status: error.status, detail: error.detail ?? error.title } };
    return this.writeMessage(frame).catch(() => {});
  }
}
