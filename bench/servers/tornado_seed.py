# The seed: Tornado (Debian python3-tornado) serving what bench/ asks of every contender, the way
# Tornado's own chat demo does it: GET / (hello), GET /api/items/ID (JSON), POST /echo, and the
# long-poll chat: GET /chat/messages?after=ID&timeout=S held until a message newer than ID is
# posted with POST /chat/messages {"text": ...} (201 with the message). One process, PORT/HOST
# from the environment, like the Node servers.
import asyncio
import datetime
import json
import os

import tornado.httpserver
import tornado.locks
import tornado.web


class Room:
    def __init__(self):
        self.messages = []
        self.cond = tornado.locks.Condition()

    def since(self, after):
        return [m for m in self.messages[-100:] if m["id"] > after]

    def post(self, text):
        now = datetime.datetime.now(datetime.timezone.utc)
        message = {
            "id": len(self.messages) + 1,
            "text": text,
            "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        self.messages.append(message)
        self.cond.notify_all()
        return message


room = Room()
# Longer than the service's 25 s: Tornado alone takes longer than that to accept and read 10,000
# polls on a busy CPU, and the bench's first polls would time out before the message is posted.
MAX_POLL_SECONDS = 300.0


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.write("Hello, world\n")


class Item(tornado.web.RequestHandler):
    def get(self, item_id):
        self.write({"id": item_id, "name": "item"})


class Echo(tornado.web.RequestHandler):
    def post(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps(json.loads(self.request.body), separators=(",", ":")))


class Messages(tornado.web.RequestHandler):
    async def get(self):
        after = int(self.get_argument("after", "0"))
        timeout = min(float(self.get_argument("timeout", "25")), MAX_POLL_SECONDS)
        deadline = asyncio.get_running_loop().time() + timeout
        while not room.since(after):
            self.wait = room.cond.wait(timeout=deadline)
            try:
                await self.wait
            except asyncio.CancelledError:
                return
            if asyncio.get_running_loop().time() >= deadline:
                break
        messages = room.since(after)
        if not messages:
            self.set_status(204)
            return
        if self.request.connection.stream.closed():
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps({"messages": messages}, separators=(",", ":")))

    def on_connection_close(self):
        wait = getattr(self, "wait", None)
        if wait is not None:
            wait.cancel()

    def post(self):
        text = json.loads(self.request.body)["text"]
        message = room.post(text)
        self.set_status(201)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(json.dumps(message, separators=(",", ":")))


async def main():
    app = tornado.web.Application(
        [
            (r"/", Hello),
            (r"/api/items/([^/]+)", Item),
            (r"/echo", Echo),
            (r"/chat/messages", Messages),
        ]
    )
    server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=65)
    server.listen(int(os.environ["PORT"]), os.environ.get("HOST", "127.0.0.1"), backlog=4096)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
