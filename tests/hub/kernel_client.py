"""Run code in a Jupyter kernel over its websocket, as JupyterLab does: the smallest client the
hub test needs (not jupyter_client's ZMQ client: every message goes through the hub's proxy).

    async with KernelSocket(ws_url, token) as kernel:
        printed = await kernel.execute("print(1)", timeout=60)   # raises CellError on an error

The server's default websocket protocol: one JSON message per frame, its channel named in it; a
message with binary buffers (widgets) comes as one binary frame, decoded by jupyter_server's own
function.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import re
import uuid

from jupyter_server.services.kernels.connection.base import deserialize_binary_message
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CellError(AssertionError):
    """A cell raised (an ``error`` message, or an ``execute_reply`` with status ``error``)."""


def decode(frame: str | bytes) -> dict:
    return json.loads(frame) if isinstance(frame, str) else deserialize_binary_message(frame)


class KernelSocket:
    def __init__(self, url: str, token: str):
        self.request = HTTPRequest(url, headers={"Authorization": f"token {token}"})
        self.session = uuid.uuid4().hex
        self.ws = None

    async def __aenter__(self) -> KernelSocket:
        self.ws = await websocket_connect(self.request, max_message_size=512 * 2**20)
        return self

    async def __aexit__(self, *exc) -> None:
        self.ws.close()

    async def execute(self, code: str, timeout: float) -> str:
        """Run ``code``; return what it printed and displayed as text. Waits for both the
        execute_reply and the kernel's return to idle, so no output of this cell is missed."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session, "username": "test",
                  "version": "5.3", "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False,
                   "stop_on_error": True, "user_expressions": {}}
        await self.ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                                "content": content, "channel": "shell", "buffers": []}))
        printed, errors, reply, idle = [], [], None, False
        deadline = asyncio.get_running_loop().time() + timeout
        while reply is None or not idle:
            left = deadline - asyncio.get_running_loop().time()
            try:
                frame = await asyncio.wait_for(self.ws.read_message(), max(left, 0))
            except asyncio.TimeoutError:
                raise TimeoutError(f"no reply within {timeout:.0f} s") from None
            if frame is None:
                raise ConnectionError("the kernel's websocket closed")
            msg = decode(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = msg["msg_type"], msg["content"]
            if kind == "stream":
                printed.append(body["text"])
            elif kind in ("execute_result", "display_data"):
                printed.append(body.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                errors.append(ANSI.sub("", "\n".join(body["traceback"])) or f"{body['ename']}: {body['evalue']}")
            elif kind == "status" and body["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                reply = body
        if errors or reply["status"] != "ok":
            raise CellError("\n".join(errors) or f"execute_reply status {reply['status']}: {reply}")
        return "".join(printed)
