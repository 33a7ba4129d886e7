/**
 * A small HTTP client for the Redis chat tests: every request on a connection of its own (so
 * requests spread over a service's workers), answering status, headers, body and which worker
 * served it (the process part of `X-Request-Id`).
 */
import { send as sendRequest } from '../support/socket.js';

/** One chat message as the API shows it. */
export interface Message {
  readonly id: number;
  readonly text: string;
  readonly at: string;
}

/** An answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The process that served it (the request id's prefix). */
  readonly worker: string;
  /** Milliseconds from sending to the end of the answer. */
  readonly ms: number;
}

/** Sends one request on a new connection (JSON when `json` is given); rejects after `timeoutMs`. */
export async function send(
  port: number,
  path: string,
  options: { method?: string; json?: unknown; timeoutMs?: number } = {},
): Promise<Answer> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const started = performance.now();
  const answer = await sendRequest(port, path, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    timeoutMs: options.timeoutMs ?? 10_000,
    ...(body === undefined ? {} : { body, headers: { 'Content-Type': 'application/json' } }),
  });
  const id = String(answer.headers['x-request-id'] ?? '');
  return {
    ...answer,
    worker: id.slice(0, id.lastIndexOf('-')),
    ms: performance.now() - started,
  };
}

/** POSTs `text`; resolves with the stored message (rejects unless 201). */
export async function post(port: number, text: string): Promise<Message> {
  const answer = await send(port, '/chat/messages', { json: { text } });
  if (answer.status !== 201) throw new Error(`POST answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body) as Message;
}

/** The messages of a 200 answer. */
export function messagesOf(answer: Answer): Message[] {
  if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}: ${answer.body}`);
  return (JSON.parse(answer.body) as { messages: Message[] }).messages;
}

/** `GET /chat/messages?after=ID` at once (timeout=0). */
export async function history(port: number, after = 0): Promise<Message[]> {
  const answer = await send(port, `/chat/messages?after=${after}&timeout=0`);
  return answer.status === 204 ? [] : messagesOf(answer);
}

/** Sends `GET /` on new connections until two different workers answered (a barrier). */
export async function bothWorkersAnswered(port: number): Promise<Set<string>> {
  const workers = new Set<string>();
  for (let i = 0; i < 12 && workers.size < 2; i++) workers.add((await send(port, '/')).worker);
  return workers;
}

/**
 * Asks `/readyz?verbose` until its `redis` check says `ok` (bounded): the readiness signal that
 * the instance reconnected and reloaded the history.
 */
export async function redisCheckOk(port: number, ok: boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  // Every worker must say so: ask on new connections until several answers in a row agree.
  for (let agreeing = 0; agreeing < 4; ) {
    if (performance.now() > deadline) {
      throw new Error(`the redis check did not turn ok=${ok} in ${timeoutMs} ms: ${last}`);
    }
    const answer = await send(port, '/readyz?verbose');
    last = answer.body;
    const checks = (JSON.parse(answer.body) as { checks: { name: string; ok: boolean }[] }).checks;
    if (checks.find((c) => c.name === 'redis')?.ok === ok) agreeing++;
    else {
      agreeing = 0;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
