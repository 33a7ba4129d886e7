import { ApiHandler, HttpError, route, Type } from '../web/index.js';
import {
  type ChatBatch,
  ChatRoom,
  type ChatStore,
  type HeldPoll,
  type PollReceiver,
} from './chat-room.js';

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

const Message = Type.Object(
  { id: Type.Integer(), text: Type.String(), at: Type.String({ format: 'date-time' }) },
  { description: 'A posted message; `at` is ISO 8601 in UTC' },
);

/** `GET /chat/messages`: the long poll. */
export const PollMessages = route({
  summary: 'Messages newer than `after` (a long poll), or the latest ones',
  query: Type.Object({
    after: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'a message id' }),
    ),
    timeout: Type.Number({
      minimum: 0,
      default: MAX_POLL_SECONDS,
      description: `seconds to hold the poll; larger values are capped at ${MAX_POLL_SECONDS}`,
    }),
  }),
  responses: {
    200: Type.Object({ messages: Type.Array(Message) }),
    204: Type.Null({ description: 'nothing new before the timeout' }),
  },
});

/** `POST /chat/messages` (and a message sent over the chat's WebSocket). */
export const PostMessage = route({
  summary: 'Posts a message',
  body: Type.Object({ text: Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH }) }),
  responses: { 201: Message },
});

/** Options of the chat handlers. */
export interface ChatOptions {
  readonly room: ChatStore;
}

/**
 * `GET /chat/messages?after=ID&timeout=S`: a long poll for messages newer than `ID`.
 * `POST /chat/messages` with `{"text": "..."}`: posts one.
 */
export class MessagesHandler extends ApiHandler<ChatOptions> implements PollReceiver {
  static schema = { get: PollMessages, post: PostMessage };
  private room!: ChatStore;

  override initialize(options: ChatOptions): void {
    this.room = options.room;
  }

  /** The poll this request holds, while it is held. */
  private held: HeldPoll | null = null;

  // A held poll is one waiter record in the room, with this handler as its receiver: no promise,
  // no thenable, no closure, no `AbortSignal`. The request is held (`holdRequest()`) until the room
  // answers; the poll ends early through onConnectionClose (the client left) or onShutdown (the
  // server drains).
  override get(): void {
    const { after, timeout } = this.input(PollMessages).query;
    if (after === undefined) {
      this.sendBatch(ChatRoom.batch(this.room.latest()));
      return;
    }
    const timeoutMs = Math.min(timeout, MAX_POLL_SECONDS) * 1000;
    this.holdRequest();
    const held = this.room.hold(after, timeoutMs, this);
    if (!this.isFinished) this.held = held; // else there were messages already
  }

  /** The client left: stop holding its poll. */
  override onConnectionClose(): void {
    this.held?.cancel();
  }

  /** The server is draining: answer 204 now, so that the client polls another instance. */
  override onShutdown(): void {
    this.held?.cancel();
  }

  /** @internal The room answers the held poll (`null`: timed out, cancelled). */
  pollAnswered(batch: ChatBatch | null): void {
    this.held = null;
    try {
      // Timed out, or the server is shutting down: 204, nothing new. (A client that left gets
      // nothing.)
      if (batch === null) this.setStatus(204);
      else this.sendBatch(batch);
    } catch (error) {
      this.releaseRequest(error);
      return;
    }
    this.releaseRequest();
  }

  override async post(): Promise<void> {
    const text = checkTextBytes(this.input(PostMessage).body.text);
    const message = await this.room.publish(text, this.requestId || undefined);
    this.setHeader('Location', `/chat/messages?after=${message.id - 1}`);
    this.reply(PostMessage, 201, message);
  }

  // The batch's JSON is made once for every poll it answers (the room keeps it), so it is sent
  // as it is rather than serialized again per request.
  private sendBatch(batch: ChatBatch): void {
    this.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.setHeader('Cache-Control', 'no-store');
    this.finish(batch.json);
  }
}

/**
 * The text of a message to post, once the schema passed it (1 to {@link MAX_TEXT_LENGTH}
 * characters): 422 when it is more than {@link MAX_TEXT_BYTES} bytes as JSON, which a schema's
 * length in characters cannot say. HTTP and WebSocket posts alike.
 */
export function checkTextBytes(text: string): string {
  const bytes = Buffer.byteLength(JSON.stringify(text)) - 2;
  if (bytes > MAX_TEXT_BYTES) {
    throw new HttpError(
      422,
      `text must be at most ${MAX_TEXT_BYTES} bytes as JSON (UTF-8), got ${bytes}`,
      {
        extensions: {
          errors: [{ pointer: '/body/text', detail: `at most ${MAX_TEXT_BYTES} bytes as JSON` }],
        },
      },
    );
  }
  return text;
}
