"""The smallest Bot API that python-telegram-bot accepts: it records every call for inspection.

``getUpdates`` long-polls briefly and returns nothing; every other method succeeds. Access logging is
off because the URL path carries the token by design of the Bot API.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, str]


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._next_id = 100

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent_texts(self) -> list[str]:
        return [
            c.params.get("text", "") for c in self.calls if c.method in ("sendMessage", "editMessageText")
        ]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            raw: dict[str, Any] = await request.json()
        else:
            raw = dict(await request.post())
        params = {k: str(v) for k, v in raw.items()}
        self.calls.append(Call(method, params))
        lower = method.lower()
        result: Any = True
        if lower == "getme":
            result = {"id": 4242, "is_bot": True, "first_name": "Monitor", "username": "monitor_test_bot"}
        elif lower == "getupdates":
            await asyncio.sleep(min(float(params.get("timeout") or 0), 0.5))
            result = []
        elif lower in ("sendmessage", "editmessagetext"):
            self._next_id += 1
            chat = int(params.get("chat_id", "0"))
            result = {
                "message_id": int(params.get("message_id") or self._next_id),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
                "text": params.get("text", ""),
            }
        return web.json_response({"ok": True, "result": result})
