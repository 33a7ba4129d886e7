import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChatBatch, ChatRoom, MAX_BATCH } from '../../src/app/chat-room.js';

/** Posts `count` messages `m1`, `m2`, … and returns the room. */
function roomWith(count: number, capacity = 1000): ChatRoom {
  const room = new ChatRoom(capacity);
  for (let i = 1; i <= count; i++) room.post(`m${i}`);
  return room;
}

const ids = (messages: readonly { id: number }[]): number[] => messages.map((m) => m.id);

/** Whether a promise has settled, after letting pending microtasks run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe('ChatRoom: history', () => {
  it('numbers messages consecutively from 1 and stamps them with an ISO time', () => {
    const room = new ChatRoom();
    expect(room.lastId).toBe(0);
    const at = new Date('2024-05-06T07:08:09.010Z');
    const first = room.post('hello', at);
    const second = room.post('world');
    const third = room.post('again');
    expect(ids([first, second, third])).toEqual([1, 2, 3]);
    expect(first).toEqual({ id: 1, text: 'hello', at: '2024-05-06T07:08:09.010Z' });
    expect(new Date(second.at).toISOString()).toBe(second.at);
    expect(room.lastId).toBe(3);
  });

  it('since(after) returns the messages newer than after, oldest first', () => {
    const room = roomWith(5);
    expect(ids(room.since(0))).toEqual([1, 2, 3, 4, 5]);
    expect(ids(room.since(2))).toEqual([3, 4, 5]);
    expect(room.since(4).map((m) => m.text)).toEqual(['m5']);
    expect(room.since(5)).toEqual([]);
  });

  it('since() on an empty room is empty whatever the cursor', () => {
    const room = new ChatRoom();
    expect(room.since(0)).toEqual([]);
    expect(room.since(7)).toEqual([]);
  });

  it('since(after) with after beyond the newest id returns the newest MAX_BATCH at most', () => {
    const room = roomWith(3);
    expect(ids(room.since(4))).toEqual([1, 2, 3]);
    expect(ids(room.since(1_000_000))).toEqual([1, 2, 3]);
    const big = roomWith(250);
    expect(MAX_BATCH).toBe(100);
    expect(ids(big.since(251))).toEqual(ids(big.latest(100)));
    expect(big.since(251)[0]?.id).toBe(151);
    expect(big.since(251, 10).map((m) => m.id)).toEqual([
      241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
    ]);
  });

  it('since(after, limit) returns the oldest `limit` messages newer than after', () => {
    const room = roomWith(250);
    expect(ids(room.since(0, 100))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(ids(room.since(100, 100))).toEqual(Array.from({ length: 100 }, (_, i) => i + 101));
    expect(ids(room.since(200, 100))).toEqual(Array.from({ length: 50 }, (_, i) => i + 201));
    expect(room.since(0)).toHaveLength(250);
  });

  it('load() of a history with nothing new leaves waiting polls waiting', () => {
    const room = roomWith(3);
    const answers: unknown[] = [];
    room.hold(3, 10_000, (batch) => answers.push(batch));
    room.load(room.since(0));
    expect(answers).toEqual([]);
    expect(room.waiting).toBe(1);
    room.load([...room.since(0), { id: 4, text: 'new', at: new Date(0).toISOString() }]);
    expect(answers).toHaveLength(1);
    expect(room.waiting).toBe(0);
  });

  it('restart() takes an older history: waiters and since() follow it', () => {
    const room = roomWith(5);
    const answers: number[][] = [];
    room.hold(5, 10_000, (batch) => answers.push(ids(batch?.messages ?? [])));
    room.restart([{ id: 1, text: 'again', at: new Date(0).toISOString() }]);
    expect(room.lastId).toBe(1);
    expect(answers).toEqual([[1]]);
    expect(ids(room.since(0))).toEqual([1]);
    expect(room.post('next').id).toBe(2);
  });

  it('since() returns a copy that later posts do not change', () => {
    const room = roomWith(2);
    const before = room.since(0);
    room.post('m3');
    expect(ids(before)).toEqual([1, 2]);
  });

  it('keeps at most `capacity` messages, dropping the oldest, with since() still right', () => {
    const room = roomWith(8, 5);
    expect(room.capacity).toBe(5);
    expect(room.lastId).toBe(8);
    expect(ids(room.since(0))).toEqual([4, 5, 6, 7, 8]);
    // A cursor older than the oldest kept message gets everything that is kept.
    expect(ids(room.since(1))).toEqual([4, 5, 6, 7, 8]);
    expect(ids(room.since(3))).toEqual([4, 5, 6, 7, 8]);
    expect(ids(room.since(4))).toEqual([5, 6, 7, 8]);
    expect(ids(room.since(6))).toEqual([7, 8]);
    expect(room.since(8)).toEqual([]);
    expect(ids(room.since(9))).toEqual([4, 5, 6, 7, 8]);
    expect(ids(room.latest(1000))).toEqual([4, 5, 6, 7, 8]);
  });

  it('latest(n) returns the newest n messages, oldest first', () => {
    const room = roomWith(10);
    expect(ids(room.latest(3))).toEqual([8, 9, 10]);
    expect(ids(room.latest(1))).toEqual([10]);
    expect(ids(room.latest(50))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(room.latest(0)).toEqual([]);
    expect(new ChatRoom().latest(5)).toEqual([]);
  });

  it('latest() defaults to the newest 100', () => {
    const room = roomWith(150);
    const latest = room.latest();
    expect(latest).toHaveLength(100);
    expect(latest[0]?.id).toBe(51);
    expect(latest[99]?.id).toBe(150);
  });

  it('batch() serialises the messages as {"messages": [...]}', () => {
    const room = roomWith(2);
    const batch = ChatRoom.batch(room.since(0));
    expect(JSON.parse(batch.json)).toEqual({ messages: room.since(0) });
    expect(ids(batch.messages)).toEqual([1, 2]);
  });
});

describe('ChatRoom: wait()', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves at once, without a timer, when there are newer messages', async () => {
    const room = roomWith(3);
    const pending = room.wait(1, 10_000);
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    const batch = await pending;
    expect(batch).not.toBeNull();
    expect(ids(batch?.messages ?? [])).toEqual([2, 3]);
    expect(JSON.parse(batch?.json ?? '')).toEqual({ messages: room.since(1) });
  });

  it('resolves at once with the newest messages when the cursor is beyond the newest id', async () => {
    const room = roomWith(2);
    const batch = await room.wait(99, 10_000);
    expect(ids(batch?.messages ?? [])).toEqual([1, 2]);
    expect(room.waiting).toBe(0);
  });

  it('answers with MAX_BATCH messages at most, oldest first; asking again gets the rest', async () => {
    const room = roomWith(230);
    const first = await room.wait(0, 10_000);
    expect(ids(first?.messages ?? [])).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const third = await room.wait(200, 10_000);
    expect(ids(third?.messages ?? [])).toEqual(Array.from({ length: 30 }, (_, i) => i + 201));
    const beyond = await room.wait(1_000, 10_000);
    expect(beyond?.messages).toHaveLength(100);
    expect(beyond?.messages[99]?.id).toBe(230);
  });

  it('waits while there is nothing newer, then resolves on post with the new messages', async () => {
    const room = roomWith(2);
    const pending = room.wait(2, 10_000);
    expect(room.waiting).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    expect(await settled(pending)).toBe(false);
    const message = room.post('m3');
    const batch = await pending;
    expect(batch?.messages).toEqual([message]);
    expect(JSON.parse(batch?.json ?? '')).toEqual({ messages: [message] });
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waits on an empty room and resolves with the first message', async () => {
    const room = new ChatRoom();
    const pending = room.wait(0, 10_000);
    expect(room.waiting).toBe(1);
    room.post('first');
    const batch = await pending;
    expect(batch?.messages.map((m) => [m.id, m.text])).toEqual([[1, 'first']]);
  });

  it('resolves null at the timeout, not before, and forgets the waiter', async () => {
    const room = roomWith(1);
    const pending = room.wait(1, 5_000);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(await settled(pending)).toBe(false);
    expect(room.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toBeNull();
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // A later post does not reach the released waiter (nothing throws, nothing waits).
    room.post('late');
    expect(room.waiting).toBe(0);
  });

  it('a timeout of 0 resolves null on the next timer tick', async () => {
    const room = new ChatRoom();
    const pending = room.wait(0, 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(await pending).toBeNull();
    expect(room.waiting).toBe(0);
  });

  it('resolves null when the signal fires, clearing its timer and listener', async () => {
    const room = roomWith(1);
    const controller = new AbortController();
    const removeSpy = vi.spyOn(controller.signal, 'removeEventListener');
    const addSpy = vi.spyOn(controller.signal, 'addEventListener');
    const pending = room.wait(1, 60_000, controller.signal);
    expect(room.waiting).toBe(1);
    expect(await settled(pending)).toBe(false);
    const listener = addSpy.mock.calls[0]?.[1];
    expect(listener).toBeDefined();
    controller.abort();
    expect(await pending).toBeNull();
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // The timer is gone: running the clock past the timeout does nothing.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(room.waiting).toBe(0);
    expect(removeSpy).toHaveBeenCalledWith('abort', listener);
  });

  it('resolves null immediately, without waiting, when the signal has already fired', async () => {
    const room = roomWith(1);
    const controller = new AbortController();
    controller.abort();
    const pending = room.wait(1, 60_000, controller.signal);
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(await pending).toBeNull();
  });

  it('an aborted signal still gets messages that are already there', async () => {
    const room = roomWith(2);
    const controller = new AbortController();
    controller.abort();
    const batch = await room.wait(1, 60_000, controller.signal);
    expect(ids(batch?.messages ?? [])).toEqual([2]);
  });

  it('removes the abort listener when released by a post or a timeout', async () => {
    const room = roomWith(1);
    const byPost = new AbortController();
    const byTimeout = new AbortController();
    const postSpy = vi.spyOn(byPost.signal, 'removeEventListener');
    const timeoutSpy = vi.spyOn(byTimeout.signal, 'removeEventListener');
    const released = room.wait(1, 60_000, byPost.signal);
    room.post('m2');
    expect(await released).not.toBeNull();
    expect(postSpy).toHaveBeenCalledWith('abort', expect.anything());
    const timedOut = room.wait(2, 1_000, byTimeout.signal);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await timedOut).toBeNull();
    expect(timeoutSpy).toHaveBeenCalledWith('abort', expect.anything());
    // Aborting afterwards is harmless.
    byPost.abort();
    byTimeout.abort();
    expect(room.waiting).toBe(0);
  });

  it('one post releases 1,000 waiters on one cursor with the identical batch, serialised once', async () => {
    const room = roomWith(4);
    const polls = Array.from({ length: 1000 }, () => room.wait(4, 30_000));
    expect(room.waiting).toBe(1000);
    expect(vi.getTimerCount()).toBe(1); // one timer for all the polls with the same timeout
    const stringify = vi.spyOn(JSON, 'stringify');
    const message = room.post('for everyone');
    const batches = await Promise.all(polls);
    expect(stringify).toHaveBeenCalledTimes(1);
    stringify.mockRestore();
    const first = batches[0] as ChatBatch;
    expect(first.messages).toEqual([message]);
    for (const batch of batches) {
      expect(batch).toBe(first);
      expect(batch?.json).toBe(first.json);
    }
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('polls with the same timeout share one timer and still time out one by one', async () => {
    const room = roomWith(1);
    const first = room.wait(1, 1_000);
    await vi.advanceTimersByTimeAsync(400);
    const second = room.wait(1, 1_000);
    const third = room.wait(1, 1_000);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(await first).toBeNull();
    expect(await settled(second)).toBe(false);
    expect(room.waiting).toBe(2);
    await vi.advanceTimersByTimeAsync(399);
    expect(await settled(second)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await second).toBeNull();
    expect(await third).toBeNull();
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('polls with different timeouts each time out at their own', async () => {
    const room = roomWith(1);
    const long = room.wait(1, 3_000);
    const short = room.wait(1, 1_000);
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await short).toBeNull();
    expect(await settled(long)).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await long).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a poll that leaves from the middle of the queue leaves the others waiting', async () => {
    const room = roomWith(1);
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const polls = controllers.map((c) => room.wait(1, 5_000, c.signal));
    controllers[1]?.abort();
    expect(await polls[1]).toBeNull();
    expect(room.waiting).toBe(2);
    controllers[2]?.abort();
    expect(await polls[2]).toBeNull();
    expect(await settled(polls[0] as Promise<unknown>)).toBe(false);
    const message = room.post('m2');
    expect((await polls[0])?.messages).toEqual([message]);
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // A second abort, or the timeout, after the release does nothing.
    controllers[0]?.abort();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(room.waiting).toBe(0);
  });

  it('one post gives waiters on different cursors their own batch, shared per cursor', async () => {
    // In a room with history only waiters at the newest id wait, so cursors can differ only in an
    // empty room: at 0, and beyond the newest id (a client of an earlier incarnation of the room).
    const room = new ChatRoom();
    const atZero = [room.wait(0, 30_000), room.wait(0, 30_000)];
    const beyond = [room.wait(7, 30_000), room.wait(7, 30_000)];
    expect(room.waiting).toBe(4);
    room.post('hello');
    const [z0, z1] = await Promise.all(atZero);
    const [b0, b1] = await Promise.all(beyond);
    expect(z0).toBe(z1);
    expect(b0).toBe(b1);
    expect(z0).not.toBe(b0);
    expect(ids(z0?.messages ?? [])).toEqual([1]);
    expect(ids(b0?.messages ?? [])).toEqual([1]); // beyond the newest id: the newest ones
    expect(room.waiting).toBe(0);
  });
});

describe('ChatRoom: hold()', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers at once, synchronously, when there already are newer messages', () => {
    const room = new ChatRoom();
    room.post('m1');
    const answers: unknown[] = [];
    const held = room.hold(0, 10_000, (batch) => answers.push(batch?.messages.length));
    expect(answers).toEqual([1]);
    held.cancel(); // nothing left to cancel
    expect(answers).toEqual([1]);
    expect(room.waiting).toBe(0);
  });

  it('answers once: with the next message, or null on cancel or at the timeout', async () => {
    vi.useFakeTimers();
    const room = new ChatRoom();
    const answers: (number | null)[] = [];
    const record = (batch: { messages: readonly { id: number }[] } | null) =>
      answers.push(batch === null ? null : (batch.messages[0]?.id ?? -1));
    const byPost = room.hold(0, 10_000, record);
    const byCancel = room.hold(0, 10_000, record);
    byCancel.cancel();
    expect(answers).toEqual([null]);
    expect(room.waiting).toBe(1);
    room.post('m1');
    expect(answers).toEqual([null, 1]);
    byPost.cancel();
    byCancel.cancel();
    room.hold(1, 1_000, record);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(answers).toEqual([null, 1, null]);
    expect(room.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
