/**
 * Most messages one answer carries (oldest first): a client further behind asks again with the
 * last id it got.
 */
export const MAX_BATCH = 100;

/** One chat message as the API shows it. */
export interface ChatMessage {
  readonly id: number;
  readonly text: string;
  /** When it was posted, ISO 8601 in UTC. */
  readonly at: string;
}

/**
 * What the chat handlers need: the local {@link ChatRoom}, a room shared by cluster workers
 * (`chat-cluster.ts`), or one shared by every instance through Redis (`chat-redis.ts`).
 */
export interface ChatStore {
  /**
   * Posts a message; resolves with it as stored (with its id). `key` (the request id), where a
   * store honours it, makes a retried post land once: the same key answers the message stored.
   */
  publish(text: string, key?: string): ChatMessage | Promise<ChatMessage>;
  latest(count?: number): ChatMessage[];
  /**
   * The first `limit` messages newer than `after`, oldest first (default: all of them). An `after`
   * beyond the newest id (a client of an earlier incarnation of the chat) gets the newest
   * {@link MAX_BATCH} at most, so it can start over.
   */
  since(after: number, limit?: number): ChatMessage[];
  /** Resolves with at most {@link MAX_BATCH} messages newer than `after` (see {@link hold}). */
  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<ChatBatch | null>;
  /**
   * The same as {@link wait} for one callback: `done` is called once, synchronously when there
   * already are newer messages; `cancel()` on the result answers `null` at once. A held poll
   * costs one small record, without a promise or an `AbortSignal` of its own.
   */
  hold(after: number, timeoutMs: number, done: PollCallback): HeldPoll;
  /**
   * Calls `listener` with every new message, in id order, synchronously as it arrives (so a
   * {@link since} read in the same turn neither misses nor repeats one). Returns the unsubscribe
   * function.
   */
  subscribe(listener: ChatListener): () => void;
}

/** A poll held by {@link ChatStore.hold}. */
export interface HeldPoll {
  /** Answers the poll with `null` now, unless it was answered already. */
  cancel(): void;
}

/**
 * What a held poll calls once: a function, or an object whose `pollAnswered` is called (a
 * handler that is its own receiver spares a closure, and what it captures, per held poll).
 */
export type PollCallback = ((batch: ChatBatch | null) => void) | PollReceiver;

/** The object form of a {@link PollCallback}. */
export interface PollReceiver {
  pollAnswered(batch: ChatBatch | null): void;
}

function answerPoll(done: PollCallback, batch: ChatBatch | null): void {
  if (typeof done === 'function') done(batch);
  else done.pollAnswered(batch);
}

/** What `hold` returns for a poll it answered at once. */
const ANSWERED: HeldPoll = Object.freeze({ cancel() {} });

/** Receives each new message (see {@link ChatStore.subscribe}). */
export type ChatListener = (message: ChatMessage) => void;

/** Messages for one poll, with their JSON body serialised once for every poll that shares it. */
export interface ChatBatch {
  readonly messages: readonly ChatMessage[];
  /** `{"messages":[...]}` */
  readonly json: string;
}

/**
 * One waiting poll: its own node in the list of polls with the same timeout, so a held poll costs
 * this one small object (six fields): no timer, no closures.
 */
class Waiter implements HeldPoll {
  prev: Waiter | null = null;
  next: Waiter | null = null;
  constructor(
    readonly after: number,
    readonly done: PollCallback,
    /** `performance.now()` at which it times out. */
    readonly deadline: number,
    readonly queue: TimeoutQueue,
  ) {}

  cancel(): void {
    this.queue.room.release(this, null);
  }
}

/**
 * The waiters with one timeout, oldest first (so in deadline order), and the one timer that fires
 * for the oldest: Node's own timer lists, with the waiter as the list node.
 */
class TimeoutQueue {
  head: Waiter | null = null;
  tail: Waiter | null = null;
  timer: NodeJS.Timeout | null = null;
  constructor(
    readonly room: ChatRoom,
    readonly timeoutMs: number,
  ) {}
}

/**
 * An in-memory chat: a bounded history and the long polls waiting for what comes next.
 *
 * Ids are consecutive integers from 1. A waiting poll costs one small record in a linked list
 * (one timer is shared by all the polls with the same timeout); when a message arrives, every
 * waiter is answered, and polls asking from the same id share one serialised body (serialise
 * once, write many).
 */
export class ChatRoom {
  private readonly history: ChatMessage[] = [];
  /** The waiters, by timeout in milliseconds. */
  private readonly queues = new Map<number, TimeoutQueue>();
  private waiterCount = 0;
  private readonly listeners = new Set<ChatListener>();
  private nextId = 1;

  /** @param capacity how many messages are kept; older ones are forgotten */
  constructor(readonly capacity = 1000) {}

  /** The id of the newest message (0 when there is none). */
  get lastId(): number {
    return this.nextId - 1;
  }

  /** How many polls are waiting. */
  get waiting(): number {
    return this.waiterCount;
  }

  /** How many subscribers there are. */
  get subscribers(): number {
    return this.listeners.size;
  }

  /**
   * {@link ChatStore.subscribe}. Listeners should not throw: one that does is reported as a process
   * warning, and the others still get the message.
   */
  subscribe(listener: ChatListener): () => void {
    // A wrapper per call: the same function subscribed twice is two subscriptions.
    const entry: ChatListener = (message) => listener(message);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Stores a message and answers every waiting poll. */
  post(text: string, now = new Date()): ChatMessage {
    const message: ChatMessage = { id: this.nextId, text, at: now.toISOString() };
    this.deliver(message);
    return message;
  }

  /** {@link ChatStore.publish}: here, the same as {@link post}. */
  publish(text: string): ChatMessage {
    return this.post(text);
  }

  /**
   * Adds a message numbered elsewhere (by the cluster primary) and answers every waiting poll.
   * Ids must keep increasing; a message at or below the newest id is ignored.
   */
  deliver(message: ChatMessage): void {
    if (message.id <= this.lastId) return;
    if (message.id !== this.nextId) this.history.length = 0; // a gap: older history is not contiguous
    this.nextId = message.id + 1;
    this.history.push(message);
    if (this.history.length > this.capacity) this.history.shift();
    this.wakeAll();
    this.tell([message]);
  }

  /**
   * Replaces the history with one that may be older than this one (the shared store was emptied
   * and numbers from 1 again): waiting polls get the newest messages, as a client of an earlier
   * incarnation does.
   */
  restart(messages: readonly ChatMessage[]): void {
    const kept = messages.slice(-this.capacity);
    const last = kept[kept.length - 1];
    this.history.splice(0, this.history.length, ...kept);
    this.nextId = (last?.id ?? 0) + 1;
    this.wakeAll();
  }

  /** Replaces the history (a new cluster worker catching up), answering polls it satisfies. */
  load(messages: readonly ChatMessage[]): void {
    const kept = messages.slice(-this.capacity);
    const last = kept[kept.length - 1];
    if (last === undefined || last.id < this.lastId) return;
    const previous = this.lastId;
    this.history.splice(0, this.history.length, ...kept);
    this.nextId = last.id + 1;
    if (last.id === previous) return; // nothing new: waiting polls keep waiting
    this.wakeAll();
    this.tell(kept.filter((m) => m.id > previous));
  }

  /**
   * The first `limit` messages newer than `after`, oldest first. An `after` beyond the newest id (a
   * client that saw an earlier incarnation of the room) gets the newest {@link MAX_BATCH} at most,
   * so it can start over.
   */
  since(after: number, limit = Number.POSITIVE_INFINITY): ChatMessage[] {
    if (after > this.lastId) return this.latest(Math.min(limit, MAX_BATCH));
    const first = this.history[0];
    if (first === undefined) return [];
    const start = Math.max(0, after - first.id + 1);
    return this.history.slice(start, start + limit);
  }

  /** The newest `count` messages, oldest first. */
  latest(count = 100): ChatMessage[] {
    return count > 0 ? this.history.slice(-count) : []; // slice(-0) would be the whole history
  }

  /** A batch for the given messages. */
  static batch(messages: readonly ChatMessage[]): ChatBatch {
    return { messages, json: JSON.stringify({ messages }) };
  }

  /**
   * Waits for messages newer than `after`: resolves with them ({@link MAX_BATCH} at most) as soon
   * as there are any (at once if there already are), or with `null` after `timeoutMs` or when
   * `signal` fires.
   */
  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<ChatBatch | null> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        const ready = this.since(after, MAX_BATCH);
        resolve(ready.length > 0 ? ChatRoom.batch(ready) : null);
        return;
      }
      if (signal === undefined) {
        this.hold(after, timeoutMs, resolve);
        return;
      }
      const onAbort = (): void => held.cancel();
      const held = this.hold(after, timeoutMs, (batch) => {
        signal.removeEventListener('abort', onAbort);
        resolve(batch);
      });
      if (held !== ANSWERED) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** {@link ChatStore.hold}. */
  hold(after: number, timeoutMs: number, done: PollCallback): HeldPoll {
    // `since` has messages unless the history is empty or `after` is the newest id (a poll that
    // is held: no empty array made for it).
    if (this.history.length > 0 && after !== this.lastId) {
      const ready = this.since(after, MAX_BATCH);
      if (ready.length > 0) {
        answerPoll(done, ChatRoom.batch(ready));
        return ANSWERED;
      }
    }
    let queue = this.queues.get(timeoutMs);
    if (queue === undefined) {
      queue = new TimeoutQueue(this, timeoutMs);
      this.queues.set(timeoutMs, queue);
    }
    // A whole millisecond (a small integer, kept in the field itself; a fraction would be a heap
    // number of its own per waiter): `expire` allows a millisecond of slack anyway.
    const deadline = Math.ceil(performance.now()) + timeoutMs;
    const waiter = new Waiter(after, done, deadline, queue);
    waiter.prev = queue.tail;
    if (queue.tail === null) queue.head = waiter;
    else queue.tail.next = waiter;
    queue.tail = waiter;
    if (queue.timer === null) this.arm(queue, timeoutMs);
    this.waiterCount++;
    return waiter;
  }

  // Apart from hold (and expire): a closure there would allocate a context on every call.
  private arm(queue: TimeoutQueue, delayMs: number): void {
    queue.timer = setTimeout(() => this.expire(queue), delayMs);
  }

  /** The queue's timer fired: releases the waiters whose time is up, then waits for the next. */
  private expire(queue: TimeoutQueue): void {
    queue.timer = null;
    const now = performance.now();
    // Timers may fire a little before performance.now() says the time is up (they count from
    // the event loop's cached time): a waiter within a millisecond of its deadline is due.
    while (queue.head !== null && queue.head.deadline <= now + 1) this.release(queue.head, null);
    const next = queue.head;
    if (next !== null) this.arm(queue, Math.max(1, next.deadline - now));
  }

  /** @internal Answers one waiter and forgets it (a waiter already answered is left alone). */
  release(waiter: Waiter, batch: ChatBatch | null): void {
    const queue = waiter.queue;
    if (waiter.prev === null && queue.head !== waiter) return; // already released
    if (waiter.prev === null) queue.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === null) queue.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = null;
    waiter.next = null;
    this.waiterCount--;
    if (queue.head === null) {
      if (queue.timer !== null) clearTimeout(queue.timer);
      queue.timer = null;
      this.queues.delete(queue.timeoutMs);
    }
    answerPoll(waiter.done, batch);
  }

  private tell(messages: readonly ChatMessage[]): void {
    if (this.listeners.size === 0) return;
    for (const message of messages) {
      for (const listener of this.listeners) {
        try {
          listener(message);
        } catch (error) {
          // Not the poster's problem (nor a reason to crash): reported, and the others still get it.
          process.emitWarning(error instanceof Error ? error : String(error), 'ChatListenerError');
        }
      }
    }
  }

  private wakeAll(): void {
    if (this.waiterCount === 0) return;
    const shared = new Map<number, ChatBatch>();
    for (const queue of [...this.queues.values()]) {
      for (let waiter = queue.head; waiter !== null; waiter = queue.head) {
        let batch = shared.get(waiter.after);
        if (batch === undefined) {
          batch = ChatRoom.batch(this.since(waiter.after, MAX_BATCH));
          shared.set(waiter.after, batch);
        }
        this.release(waiter, batch);
      }
    }
  }
}
