import { HttpError, RequestHandler } from '../web/index.js';
import { type ChatBatch, ChatRoom, type ChatStore, type HeldPoll } from './chat-room.js';

/** Longest a poll is held, in seconds. */
export const MAX_POLL_SECONDS = 25;
/** Longest message, in characters (code points). */
export const MAX_TEXT_LENGTH = 1000;
/**
 * Largest message as stored and sent: the UTF-8 bytes of its JSON string (without the quotes).
 * Characters alone do not bound it: a control character is sent as a six-byte `\u00XX`, so 1,000
 * of them would be 6,000 bytes, times 100 messages per answer.
 */
export const MAX_TEXT_BYTES = 4096;

/** Options of the chat handlers. */
export interface ChatOptions {
  readonly room: ChatStore;
}

/**
 * `GET /chat/messages?after=ID&timeout=S`: a long poll for messages newer than `ID`.
 * `POST /chat/messages` with `{"text": "..."}`: posts one.
 */
export class MessagesHandler extends RequestHandler<ChatOptions> {
  private room!: ChatStore;

  override initialize(options: ChatOptions): void {
    this.room = options.room;
  }

  /** The poll this request holds, while it is held. */
  private held: HeldPoll | null = null;

  // A held poll is one waiter record in the room and one promise, and no `AbortSignal`: the poll
  // ends through onConnectionClose (the client left) or onShutdown (the server drains).
  override get(): Promise<void> | undefined {
    const timeoutSeconds = parseTimeout(this.getQueryArgument('timeout', ''));
    const after = this.getQueryArgument('after', '');
    if (after === '') {
      this.sendBatch(ChatRoom.batch(this.room.latest()));
      return undefined;
    }
    if (!/^\d{1,15}$/.test(after)) {
      throw new HttpError(400, 'after must be a message id (a non-negative integer)');
    }
    return new Promise((resolve) => {
      this.held = this.room.hold(Number(after), timeoutSeconds * 1000, (batch) => {
        this.held = null;
        this.answer(batch);
        resolve();
      });
    });
  }

  /** The client left: stop holding its poll. */
  override onConnectionClose(): void {
    this.held?.cancel();
  }

  /** The server is draining: answer 204 now, so that the client polls another instance. */
  override onShutdown(): void {
    this.held?.cancel();
  }

  private answer(batch: ChatBatch | null): void {
    if (batch === null) {
      // Timed out, or the server is shutting down: nothing new. (A client that left gets nothing.)
      this.setStatus(204);
      return;
    }
    this.sendBatch(batch);
  }

  override async post(): Promise<void> {
    const text = chatText(await this.json());
    const message = await this.room.publish(text, this.requestId || undefined);
    this.setStatus(201);
    this.setHeader('Location', `/chat/messages?after=${message.id - 1}`);
    this.finish(message);
  }

  private sendBatch(batch: ChatBatch): void {
    this.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.setHeader('Cache-Control', 'no-store');
    this.finish(batch.json);
  }
}

/**
 * The text of a message to post, from a parsed `{"text": "..."}` body (HTTP or WebSocket): 422
 * unless it is an object whose `text` is a string of 1 to {@link MAX_TEXT_LENGTH} characters and
 * at most {@link MAX_TEXT_BYTES} bytes as JSON.
 */
export function chatText(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(422, 'the body must be a JSON object like {"text": "..."}');
  }
  const text = (body as { text?: unknown }).text;
  if (typeof text !== 'string') throw new HttpError(422, 'text must be a string');
  const length = [...text].length;
  if (length < 1 || length > MAX_TEXT_LENGTH) {
    throw new HttpError(422, `text must be 1 to ${MAX_TEXT_LENGTH} characters, got ${length}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(text)) - 2;
  if (bytes > MAX_TEXT_BYTES) {
    throw new HttpError(
      422,
      `text must be at most ${MAX_TEXT_BYTES} bytes as JSON (UTF-8), got ${bytes}`,
    );
  }
  return text;
}

function parseTimeout(raw: string): number {
  if (raw === '') return MAX_POLL_SECONDS;
  const seconds = Number(raw);
  if (raw.trim() === '' || Number.isNaN(seconds) || seconds < 0) {
    throw new HttpError(400, 'timeout must be a non-negative number of seconds');
  }
  return Math.min(seconds, MAX_POLL_SECONDS);
}
