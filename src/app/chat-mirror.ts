import {
  type ChatBatch,
  type ChatListener,
  type ChatMessage,
  ChatRoom,
  type ChatStore,
  type HeldPoll,
  type PollCallback,
} from './chat-room.js';

/**
 * A chat whose messages are numbered and stored elsewhere (the cluster primary, Redis) and
 * mirrored into this process's {@link ChatRoom}: reads, held polls and subscribers are served
 * from the local copy, so a held poll costs what it costs in one process. Subclasses post
 * through their broker and {@link ChatRoom.deliver} what it sends back.
 */
export abstract class ChatMirror implements ChatStore {
  /** This process's copy of the history, with its waiting polls and subscribers. */
  readonly local: ChatRoom;

  constructor(capacity: number) {
    this.local = new ChatRoom(capacity);
  }

  abstract publish(text: string, key?: string): Promise<ChatMessage>;

  latest(count?: number): ChatMessage[] {
    return this.local.latest(count);
  }

  since(after: number, limit?: number): ChatMessage[] {
    return this.local.since(after, limit);
  }

  /** Every message posted anywhere reaches this process's subscribers, in id order. */
  subscribe(listener: ChatListener): () => void {
    return this.local.subscribe(listener);
  }

  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<ChatBatch | null> {
    return this.local.wait(after, timeoutMs, signal);
  }

  hold(after: number, timeoutMs: number, done: PollCallback): HeldPoll {
    return this.local.hold(after, timeoutMs, done);
  }
}
