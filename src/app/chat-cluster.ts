/**
 * The chat across cluster workers: the primary numbers and stores every message and broadcasts it;
 * each worker keeps a copy of the history, its own waiting polls and its own subscribers (sockets).
 * A message posted to any worker reaches the polls and sockets on every worker, and every worker
 * shows the same history.
 *
 * The state lives in one pod: across pods, `REDIS_URL` replaces it with the Redis chat
 * (`chat-redis.ts`), where each worker talks to Redis itself.
 */
import type { Primary, WorkerChannel } from '../service/cluster/index.js';
import { MAX_TEXT_LENGTH } from './chat-handlers.js';
import {
  type ChatBatch,
  type ChatListener,
  type ChatMessage,
  ChatRoom,
  type ChatStore,
  type HeldPoll,
} from './chat-room.js';

const POST = 'chat.post';
const HISTORY = 'chat.history';
const MESSAGE = 'chat.message';

/** The primary's part: the numbering and the canonical history. */
export function serveChatFromPrimary(primary: Primary, capacity = 1000): ChatRoom {
  const room = new ChatRoom(capacity);
  primary.handle(POST, (payload) => {
    const text = (payload as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || text.length === 0 || [...text].length > MAX_TEXT_LENGTH) {
      throw new Error('bad chat text');
    }
    const message = room.post(text);
    // Broadcast before the reply: the posting worker has the message in its room when it answers.
    primary.broadcast(MESSAGE, message);
    return message;
  });
  primary.handle(HISTORY, () => room.latest(capacity));
  return room;
}

/** A worker's room: posts go through the primary; messages arrive by broadcast. */
export class ClusterChatRoom implements ChatStore {
  readonly local: ChatRoom;

  constructor(
    private readonly channel: WorkerChannel,
    capacity = 1000,
  ) {
    this.local = new ChatRoom(capacity);
    channel.subscribe(MESSAGE, (message) => this.local.deliver(message as ChatMessage));
  }

  /** Loads the history from the primary (a new or replacement worker catching up). */
  async sync(): Promise<void> {
    const history = (await this.channel.request(HISTORY, null)) as ChatMessage[];
    this.local.load(history);
  }

  async publish(text: string): Promise<ChatMessage> {
    return (await this.channel.request(POST, { text })) as ChatMessage;
  }

  latest(count?: number): ChatMessage[] {
    return this.local.latest(count);
  }

  since(after: number, limit?: number): ChatMessage[] {
    return this.local.since(after, limit);
  }

  /** Every message posted on any worker reaches this worker's subscribers (by broadcast). */
  subscribe(listener: ChatListener): () => void {
    return this.local.subscribe(listener);
  }

  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<ChatBatch | null> {
    return this.local.wait(after, timeoutMs, signal);
  }

  hold(after: number, timeoutMs: number, done: (batch: ChatBatch | null) => void): HeldPoll {
    return this.local.hold(after, timeoutMs, done);
  }
}
