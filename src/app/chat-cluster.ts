/**
 * The chat across cluster workers: the primary numbers and stores every message and broadcasts it;
 * each worker keeps a copy of the history, its own waiting polls and its own subscribers (sockets).
 * A message posted to any worker reaches the polls and sockets on every worker, and every worker
 * shows the same history.
 *
 * The state lives in one pod: across pods, `REDIS_URL` replaces it with the Redis chat
 * (`chat-redis.ts`), where each worker talks to Redis itself.
 */
import { type Primary, RequestTimeoutError, type WorkerChannel } from '../service/cluster/index.js';
import { HttpError } from '../web/index.js';
import { MAX_TEXT_LENGTH } from './chat-handlers.js';
import { ChatMirror } from './chat-mirror.js';
import { type ChatMessage, ChatRoom } from './chat-room.js';

const POST = 'chat.post';
const HISTORY = 'chat.history';
const MESSAGE = 'chat.message';
/** Idempotency keys remembered by the primary (the most recent posts). */
const REMEMBERED_KEYS = 10_000;

/** The primary's part: the numbering and the canonical history. */
export function serveChatFromPrimary(primary: Primary, capacity = 1000): ChatRoom {
  const room = new ChatRoom(capacity);
  // A worker that gave up waiting answers 504 and its client retries with the same request id:
  // the retry gets the message stored the first time instead of a second copy.
  const byKey = new Map<string, ChatMessage>();
  primary.handle(POST, (payload) => {
    const { text, key } = (payload ?? {}) as { text?: unknown; key?: unknown };
    if (typeof text !== 'string' || text.length === 0 || [...text].length > MAX_TEXT_LENGTH) {
      throw new Error('bad chat text');
    }
    const seen = typeof key === 'string' ? byKey.get(key) : undefined;
    if (seen !== undefined) return seen;
    const message = room.post(text);
    if (typeof key === 'string') {
      byKey.set(key, message);
      if (byKey.size > REMEMBERED_KEYS) byKey.delete(byKey.keys().next().value as string);
    }
    // Broadcast before the reply: the posting worker has the message in its room when it answers.
    primary.broadcast(MESSAGE, message);
    return message;
  });
  primary.handle(HISTORY, () => room.latest(capacity));
  return room;
}

/** A worker's room: posts go through the primary; messages arrive by broadcast. */
export class ClusterChatRoom extends ChatMirror {
  constructor(
    private readonly channel: WorkerChannel,
    capacity = 1000,
  ) {
    super(capacity);
    channel.subscribe(MESSAGE, (message) => this.local.deliver(message as ChatMessage));
  }

  /** Loads the history from the primary (a new or replacement worker catching up). */
  async sync(): Promise<void> {
    const history = (await this.channel.request(HISTORY, null)) as ChatMessage[];
    this.local.load(history);
  }

  /** Through the primary; `key` (the request id) makes a retry of a post land once. */
  async publish(text: string, key?: string): Promise<ChatMessage> {
    try {
      return (await this.channel.request(POST, { text, key })) as ChatMessage;
    } catch (error) {
      if (!(error instanceof RequestTimeoutError)) throw error;
      // The primary may have stored it: say the outcome is unknown, not that the post failed.
      throw new HttpError(
        504,
        'the message may have been stored; retry with the same X-Request-Id',
        {
          cause: error,
        },
      );
    }
  }
}
