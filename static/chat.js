// The chat page: the history from GET /chat/messages, then new messages by long poll
// (GET /chat/messages?after=ID) or, with ?transport=ws, over the WebSocket /chat/socket.
// Message text is only ever set with textContent: it is never parsed as HTML.

const transport = new URLSearchParams(location.search).get('transport') === 'ws' ? 'ws' : 'poll';
const list = document.getElementById('messages');
const form = document.getElementById('composer');
const input = document.getElementById('text');
const status = document.getElementById('status');
const errorBox = document.getElementById('error');

/** The newest message id shown. */
let lastId = 0;
/** The open socket (WebSocket transport). */
let socket = null;

document.body.dataset.transport = transport;
document
  .getElementById(transport === 'ws' ? 'use-ws' : 'use-poll')
  .setAttribute('aria-current', 'page');

function setStatus(state) {
  status.dataset.state = state;
  status.textContent =
    state === 'online' ? `online (${transport === 'ws' ? 'WebSocket' : 'long poll'})` : state;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = text === '';
}

function render(messages) {
  if (messages.length === 0) return;
  // A newest id below ours: the server's chat started over (a restart). Start over too.
  if (messages[messages.length - 1].id < lastId) {
    list.replaceChildren();
    lastId = 0;
  }
  const pane = list.parentElement;
  const atBottom = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
  for (const message of messages) {
    if (message.id <= lastId) continue;
    const item = document.createElement('li');
    item.dataset.id = String(message.id);
    const time = document.createElement('time');
    time.dateTime = message.at;
    time.textContent = new Date(message.at).toLocaleTimeString();
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = message.text;
    item.append(time, text);
    list.append(item);
    lastId = message.id;
  }
  if (atBottom) pane.scrollTop = pane.scrollHeight;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nextDelay = (ms) => Math.min(ms === 0 ? 500 : ms * 2, 10_000);

async function problemDetail(response) {
  try {
    const problem = await response.json();
    return problem.detail ?? problem.title ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function loadHistory() {
  for (let delay = 0; ; delay = nextDelay(delay)) {
    try {
      const response = await fetch('/chat/messages', { cache: 'no-store' });
      if (response.ok) {
        render((await response.json()).messages);
        return;
      }
    } catch {
      // offline: try again
    }
    setStatus('offline');
    await sleep(nextDelay(delay));
  }
}

async function poll() {
  setStatus('online');
  for (let delay = 0; ; ) {
    try {
      const response = await fetch(`/chat/messages?after=${lastId}`, { cache: 'no-store' });
      if (response.status === 200) render((await response.json()).messages);
      else if (response.status !== 204) throw new Error(`HTTP ${response.status}`);
      setStatus('online');
      delay = 0;
    } catch {
      setStatus('offline');
      delay = nextDelay(delay);
      await sleep(delay);
    }
  }
}

function connect(delay = 0) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/chat/socket?after=${lastId}`);
  socket = ws;
  ws.addEventListener('open', () => {
    delay = 0;
    setStatus('online');
  });
  ws.addEventListener('message', (event) => {
    const data = JSON.parse(event.data);
    if (data.error) showError(data.error.detail);
    else render([data]);
  });
  ws.addEventListener('close', () => {
    if (socket === ws) socket = null;
    setStatus('offline');
    const next = nextDelay(delay);
    setTimeout(() => connect(next), next);
  });
}

async function send(text) {
  if (transport === 'ws') {
    if (socket === null || socket.readyState !== WebSocket.OPEN) throw new Error('not connected');
    socket.send(JSON.stringify({ text }));
    return;
  }
  const response = await fetch('/chat/messages', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  if (response.status !== 201) throw new Error(await problemDetail(response));
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = input.value;
  if (text.trim() === '') return;
  try {
    await send(text);
    input.value = '';
    showError('');
  } catch (error) {
    showError(`Not sent: ${error.message}`);
  }
  input.focus();
});

await loadHistory();
if (transport === 'ws') connect();
else void poll();
