/**
 * The chat in Redis, for several instances (pods) of the service: Redis numbers, stores and
 * broadcasts every message; each worker process keeps a copy of the history and its own waiting
 * polls and subscribers, exactly as a cluster worker does with its primary.
 *
 * Each worker holds two connections: one for commands (posting, reloading the history) and one
 * subscribed to the chat's channel, which delivers every message into the local room. A held poll
 * costs what it costs without Redis: no command and no connection of its own.
 */
import { Redis } from 'ioredis';
import { HttpError } from '../web/index.js';
import { ChatMirror } from './chat-mirror.js';
import type { ChatMessage, ChatStore } from './chat-room.js';

/**
 * Numbers, stores, trims and publishes one message as one atomic step, so ids increase in the
 * order every subscriber receives them. A script rather than a stream: the API's ids are small
 * consecutive integers (`after=ID` pages through them and a gap tells a worker it missed
 * something), which INCR gives and stream ids (time-sequence pairs) do not; and PUBLISH from the
 * same step reaches every worker without one blocking XREAD connection per waiting client. The
 * time is Redis' own clock, one clock for every instance.
 */
const POST_SCRIPT = `
local id = redis.call('INCR', KEYS[1])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local message = cjson.encode({ id = id, text = ARGV[1], ms = ms })
redis.call('RPUSH', KEYS[2], message)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PUBLISH', ARGV[3], message)
return message
`;

/** Options of {@link RedisChatStore}. */
export interface RedisChatOptions {
  /** `redis://…` or `rediss://…` (TLS); a password in it is sent with AUTH. */
  readonly url: string;
  /** First part of every key: `<prefix>:{chat}:…`. */
  readonly keyPrefix: string;
  /** How many messages the history keeps (default 1,000). */
  readonly capacity?: number;
  /** Longest a command may take before it fails (default 1,000 ms): posting then answers 503. */
  readonly commandTimeoutMs?: number;
  /** The `Retry-After` of a 503, in seconds (default 2). */
  readonly retryAfterSeconds?: number;
}

/** The two connections of a store. */
export type RedisConnectionName = 'command' | 'subscriber';

/** What a store reports to its observer (logs, metrics). */
export type RedisChatEvent =
  | { readonly kind: 'up'; readonly connection: RedisConnectionName; readonly again: boolean }
  | { readonly kind: 'down'; readonly connection: RedisConnectionName }
  | { readonly kind: 'error'; readonly connection: RedisConnectionName; readonly error: Error }
  | { readonly kind: 'synced'; readonly lastId: number };

/** Delay before reconnection attempt `times`: doubling from 100 ms up to 2 s, with jitter. */
export function reconnectDelayMs(times: number): number {
  const ceiling = Math.min(100 * 2 ** Math.min(times - 1, 5), 2000);
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

interface PostCommand {
  tornodeChatPost(
    lastIdKey: string,
    historyKey: string,
    text: string,
    capacity: number,
    channel: string,
  ): Promise<string>;
}

/**
 * A {@link ChatStore} in Redis: one chat for every worker of every instance that uses the same
 * Redis and key prefix. All its keys share the hash tag `{chat}`, so the script's keys live in one
 * slot of a Redis Cluster.
 */
export class RedisChatStore extends ChatMirror {
  /** The keys and channel, `<prefix>:{chat}:…`. */
  readonly keys: { readonly lastId: string; readonly history: string; readonly channel: string };
  private readonly command: Redis;
  private readonly subscriber: Redis;
  private readonly capacity: number;
  private readonly retryAfter: string;
  private subscribed = false;
  /** The local history is Redis' up to the subscription: messages can be delivered as they come. */
  private inSync = false;
  private syncing: Promise<void> | null = null;
  /** Messages received while not in sync, delivered after the next reload. */
  private pending: ChatMessage[] = [];
  private closed = false;
  private commandWasUp = false;
  private wasSubscribed = false;
  private observer: (event: RedisChatEvent) => void = () => {};
  /** Called once at the next completed reload ({@link start}). */
  private readonly syncWaiters = new Set<() => void>();

  constructor(options: RedisChatOptions) {
    super(options.capacity ?? 1000);
    this.capacity = options.capacity ?? 1000;
    this.retryAfter = String(options.retryAfterSeconds ?? 2);
    const base = `${options.keyPrefix}:{chat}`;
    this.keys = {
      lastId: `${base}:last-id`,
      history: `${base}:history`,
      channel: `${base}:messages`,
    };
    const connection = {
      lazyConnect: true,
      // Fail fast: a command while disconnected is refused at once (the poster gets a 503 and
      // retries) instead of waiting in a queue that would hold requests for the whole outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A post cut off mid-flight may or may not have run: sending it again could post it twice.
      autoResendUnfulfilledCommands: false,
      // Resubscribed by hand, so the reload of the history starts only once the channel is live.
      autoResubscribe: false,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: reconnectDelayMs,
    };
    this.command = new Redis(options.url, connection);
    this.command.defineCommand('tornodeChatPost', { numberOfKeys: 2, lua: POST_SCRIPT });
    this.subscriber = new Redis(options.url, connection);
    this.watch(this.command, 'command');
    this.watch(this.subscriber, 'subscriber');
    this.command.on('ready', () => void this.trySync());
    this.subscriber.on('ready', () => void this.listen());
    this.subscriber.on('message', (_channel: string, raw: string) => this.receive(raw));
  }

  /** Receives the store's connection events (one observer; a later call replaces it). */
  observe(observer: (event: RedisChatEvent) => void): void {
    this.observer = observer;
  }

  /** Whether posting can work now and deliveries are live. */
  get connected(): boolean {
    return this.command.status === 'ready' && this.subscribed && this.inSync;
  }

  /** Whether each connection is up (the subscriber: subscribed), for metrics. */
  isUp(connection: RedisConnectionName): boolean {
    return connection === 'command' ? this.command.status === 'ready' : this.subscribed;
  }

  /** A short description of the connections' state, for `/readyz?verbose`. */
  get state(): string {
    if (this.connected) return 'connected';
    const subscriber = this.subscribed ? 'subscribed' : this.subscriber.status;
    const history = this.inSync ? 'in sync' : 'not in sync';
    return `command connection ${this.command.status}, subscriber ${subscriber}, history ${history}`;
  }

  /**
   * Connects both connections and resolves `true` once the history is loaded, or `false` after
   * `waitMs` without it (the store keeps reconnecting in the background: the service can start
   * and serve everything else meanwhile).
   */
  start(waitMs = 3000): Promise<boolean> {
    // Failed attempts are reported as events and retried by the retry strategy.
    this.command.connect().catch(() => {});
    this.subscriber.connect().catch(() => {});
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.syncWaiters.delete(synced);
        resolve(false);
      }, waitMs);
      const synced = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.syncWaiters.add(synced);
    });
  }

  /** Closes both connections (a shutdown hook): no reconnection afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([quit(this.command), quit(this.subscriber)]);
  }

  async publish(text: string): Promise<ChatMessage> {
    if (this.closed || this.command.status !== 'ready') throw this.unavailable();
    let raw: string;
    try {
      raw = await (this.command as unknown as PostCommand).tornodeChatPost(
        this.keys.lastId,
        this.keys.history,
        text,
        this.capacity,
        this.keys.channel,
      );
    } catch (error) {
      throw this.unavailable(error);
    }
    const message = parseMessage(raw);
    if (message === null) throw new Error('the chat script answered something else than a message');
    // Read your writes on this worker: its next GET shows the message even if the subscription
    // has not delivered it yet.
    if (this.inSync && message.id === this.local.lastId + 1) this.local.deliver(message);
    else await this.delivered(message.id);
    return message;
  }

  private unavailable(cause?: unknown): HttpError {
    return new HttpError(503, 'the chat cannot reach its store (Redis); try again shortly', {
      headers: { 'Retry-After': this.retryAfter },
      cause,
    });
  }

  private watch(redis: Redis, connection: RedisConnectionName): void {
    if (connection === 'command') {
      redis.on('ready', () => {
        const again = this.commandWasUp;
        this.commandWasUp = true;
        this.observer({ kind: 'up', connection, again });
      });
    }
    redis.on('close', () => {
      if (connection === 'subscriber') {
        this.inSync = false;
        if (!this.subscribed) return;
        this.subscribed = false;
      }
      this.observer({ kind: 'down', connection });
    });
    // Without a listener an 'error' event would crash the process; the retry strategy reconnects.
    redis.on('error', (error: Error) => this.observer({ kind: 'error', connection, error }));
  }

  /** The subscriber (re)connected: subscribe, then reload what may have been missed meanwhile. */
  private async listen(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.keys.channel);
    } catch (error) {
      this.observer({ kind: 'error', connection: 'subscriber', error: asError(error) });
      if (!this.closed) this.subscriber.disconnect(true);
      return;
    }
    this.subscribed = true;
    this.observer({ kind: 'up', connection: 'subscriber', again: this.wasSubscribed });
    this.wasSubscribed = true;
    await this.trySync();
  }

  private trySync(): Promise<void> {
    if (this.inSync || !this.subscribed || this.command.status !== 'ready' || this.closed) {
      return Promise.resolve();
    }
    this.syncing ??= this.sync().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  /**
   * Reloads the history. The channel is subscribed first, so a message is either in the history
   * read here or delivered by the subscription afterwards (or both: duplicates are dropped by id).
   */
  private async sync(): Promise<void> {
    let raw: string[];
    try {
      raw = await this.command.lrange(this.keys.history, 0, -1);
    } catch (error) {
      this.observer({ kind: 'error', connection: 'command', error: asError(error) });
      setTimeout(() => void this.trySync(), 500).unref();
      return;
    }
    if (!this.subscribed) return; // lost meanwhile: the next subscription reloads
    const history = raw.map(parseMessage).filter((m): m is ChatMessage => m !== null);
    const newest = history[history.length - 1]?.id ?? 0;
    // Redis was emptied (a new instance without persistence): its numbering started over.
    if (newest < this.local.lastId) this.local.restart(history);
    else this.local.load(history);
    this.inSync = true;
    const pending = this.pending;
    this.pending = [];
    for (const message of pending) this.accept(message);
    this.observer({ kind: 'synced', lastId: this.local.lastId });
    for (const waiter of this.syncWaiters) waiter();
    this.syncWaiters.clear();
  }

  private receive(raw: string): void {
    const message = parseMessage(raw);
    if (message === null) return;
    if (this.inSync) {
      this.accept(message);
      return;
    }
    this.pending.push(message);
    if (this.pending.length > this.capacity) this.pending.shift();
  }

  private accept(message: ChatMessage): void {
    if (message.id <= this.local.lastId) return;
    if (message.id === this.local.lastId + 1) {
      this.local.deliver(message);
      return;
    }
    // A gap: messages were missed (the subscription fell behind); reload them from the history.
    this.inSync = false;
    this.pending.push(message);
    void this.trySync();
  }

  /** Resolves once the local room has message `id`, or after a second (it is posted anyway). */
  private delivered(id: number): Promise<void> {
    if (this.local.lastId >= id) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, 1000);
      const unsubscribe = this.local.subscribe((message) => {
        if (message.id >= id) done();
      });
    });
  }
}

/** A stored message (`{"id", "text", "ms"}`, as the script writes it), or `null` if it is not one. */
function parseMessage(raw: string): ChatMessage | null {
  try {
    const value = JSON.parse(raw) as { id?: unknown; text?: unknown; ms?: unknown };
    if (
      typeof value.id !== 'number' ||
      !Number.isSafeInteger(value.id) ||
      typeof value.text !== 'string' ||
      typeof value.ms !== 'number'
    ) {
      return null;
    }
    return { id: value.id, text: value.text, at: new Date(value.ms).toISOString() };
  } catch {
    return null;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** QUIT when connected (bounded: a hung server gets a second), otherwise just disconnect. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
  });
  await Promise.race([
    redis.quit().then(
      () => {},
      () => {},
    ),
    bound,
  ]);
  clearTimeout(timer);
  redis.disconnect();
}
