"""A fake Telegram Bot API on 127.0.0.1 for driving the real python-telegram-bot client in tests.

It speaks enough of the Bot API for the notifier (getMe, sendMessage, editMessageText,
editMessageReplyMarkup, pinChatMessage, answerCallbackQuery, deleteWebhook, setMyCommands, getUpdates
with long polling), accepts form-encoded and JSON bodies, records every call (including the ones it
failed on purpose) and can misbehave on request:

- ``rate_limit(method, times, retry_after)``: answer 429 with ``parameters.retry_after``;
- ``bad_request(method, times, description)``: answer 400;
- ``slow(method, seconds, times, text_contains=...)``: perform the call, then answer late (a client
  timeout after delivery), optionally only for messages whose text contains a marker;
- ``outage("refuse" | "502")`` / ``recover()``: stop listening (connection refused) or answer 502.

Updates are queued with ``push_command`` and ``push_callback``. Access logging is off: the URL path
holds the token, and the token-in-logs test must only see the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Monitor", "username": "monitor_test_bot"}


@dataclass
class Call:
    """One request as received. ``params`` hold the raw string values (PTB JSON-encodes non-strings in
    its form bodies); ``status`` is what was answered (0 = connection dropped)."""

    method: str
    params: dict[str, str]
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    result: Any = None

    def json(self, name: str) -> Any:
        raw = self.params.get(name)
        return None if raw is None else json.loads(raw)

    @property
    def chat_id(self) -> int | None:
        raw = self.params.get("chat_id")
        return None if raw is None else int(raw)

    @property
    def text(self) -> str:
        return self.params.get("text", "")

    @property
    def silent(self) -> bool:
        return self.params.get("disable_notification") in ("true", "True", "1")

    @property
    def message_id(self) -> int:
        """The id of the message this call created (sendMessage) or edited."""
        assert isinstance(self.result, dict), "call has no message result"
        return int(self.result["message_id"])

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """``(label, callback_data)`` of the inline keyboard sent with the call."""
        markup = self.json("reply_markup") or {}
        return [
            (b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row
        ]


@dataclass
class _Fault:
    method: str
    times: int
    kind: str
    value: Any
    text_contains: str | None = None


class FakeBotApi:
    def __init__(self, token: str, *, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.pinned: dict[int, int] = {}
        self.answers: list[dict[str, str]] = []
        self._faults: list[_Fault] = []
        self._mode = "up"
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id: dict[int, int] = {}
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._changed = asyncio.Event()
        self.on_call: Callable[[Call], None] | None = None  # observer, e.g. for latency measurements

    # --- lifecycle ---

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._mode = "closing"
        self._new_update.set()  # release a pending long poll so shutdown does not wait for it
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- misbehaviour ---

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        self._faults.append(_Fault(method, times, "429", retry_after))

    def bad_request(self, method: str, times: int = 1, description: str = "Bad Request: can't parse") -> None:
        self._faults.append(_Fault(method, times, "400", description))

    def slow(self, method: str, seconds: float, times: int = 1, *, text_contains: str | None = None) -> None:
        self._faults.append(_Fault(method, times, "slow", seconds, text_contains))

    async def outage(self, mode: str = "refuse") -> None:
        """``refuse``: close the listening socket (and drop requests on kept-alive connections);
        ``502``: answer every request with an HTML 502, like a proxy whose upstream is down."""
        if mode not in ("refuse", "502"):
            raise ValueError(mode)
        self._mode = mode
        self._new_update.set()  # release a pending long poll so it sees the outage
        if mode == "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None

    async def recover(self) -> None:
        if self._mode == "refuse":
            await self._listen()
        self._mode = "up"

    # --- updates ---

    def push_command(self, chat_id: int, user_id: int, text: str) -> int:
        command = text.split()[0]
        msg = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        }
        return self._push({"message": msg})

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        stored = self.messages.get((chat_id, message_id), {})
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": BOT_USER,
            "text": stored.get("text", ""),
        }
        if stored.get("reply_markup"):
            message["reply_markup"] = stored["reply_markup"]
        query_id = f"cq{self._next_update_id}"
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                    "chat_instance": f"ci{chat_id}",
                    "message": message,
                    "data": data,
                }
            }
        )
        return query_id

    def _push(self, body: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **body})
        self._new_update.set()
        return update_id

    # --- assertions ---

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """sendMessage calls that succeeded (the message exists in the chat)."""
        return [c for c in self.calls_to("sendMessage") if chat_id is None or c.chat_id == chat_id]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout:.1f} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.05))

    # --- the API ---

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method, params)
        self.calls.append(call)
        self._changed.set()
        if self.on_call is not None:
            self.on_call(call)
        if self._mode == "refuse":
            call.status = 0
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)
        if self._mode == "502":
            call.status = 502
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>")
        if request.match_info["token"] != self.token:
            call.status = 401
            return _error(401, "Unauthorized")
        fault = self._take_fault(method, params)
        if fault is not None and fault.kind == "429":
            call.status = 429
            return _error(
                429, f"Too Many Requests: retry after {fault.value}", parameters={"retry_after": fault.value}
            )
        if fault is not None and fault.kind == "400":
            call.status = 400
            return _error(400, str(fault.value))
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except _ApiError as exc:
            call.status = exc.code
            return _error(exc.code, exc.description)
        call.result = result
        self._changed.set()
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(float(fault.value))
        return web.json_response({"ok": True, "result": result})

    def _take_fault(self, method: str, params: dict[str, str]) -> _Fault | None:
        for fault in self._faults:
            if fault.text_contains is not None and fault.text_contains not in params.get("text", ""):
                continue
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _api_getme(self, p: dict[str, str]) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False}

    async def _api_deletewebhook(self, p: dict[str, str]) -> Any:
        if p.get("drop_pending_updates") in ("true", "True", "1"):
            self._updates.clear()
        return True

    async def _api_setmycommands(self, p: dict[str, str]) -> Any:
        return True

    async def _api_getupdates(self, p: dict[str, str]) -> Any:
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout=timeout)
            if self._mode != "up":
                raise _ApiError(502, "Bad Gateway")
        return self._updates[:100]

    async def _api_sendmessage(self, p: dict[str, str]) -> Any:
        chat_id = int(p["chat_id"])
        text = p.get("text", "")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        message_id = self._new_message_id(chat_id)
        markup = json.loads(p["reply_markup"]) if p.get("reply_markup") else None
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        self.messages[(chat_id, message_id)] = {"text": text, "reply_markup": markup}
        return self._message(chat_id, message_id)

    async def _api_editmessagetext(self, p: dict[str, str]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        stored = self.messages.get((chat_id, message_id))
        if stored is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = json.loads(p["reply_markup"]) if p.get("reply_markup") else None
        if stored["text"] == p.get("text") and stored["reply_markup"] == markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        stored["text"], stored["reply_markup"] = p.get("text", ""), markup
        return self._message(chat_id, message_id)

    async def _api_editmessagereplymarkup(self, p: dict[str, str]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        stored = self.messages.get((chat_id, message_id))
        if stored is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        stored["reply_markup"] = json.loads(p["reply_markup"]) if p.get("reply_markup") else None
        return self._message(chat_id, message_id)

    async def _api_pinchatmessage(self, p: dict[str, str]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        if (chat_id, message_id) not in self.messages:
            raise _ApiError(400, "Bad Request: message to pin not found")
        self.pinned[chat_id] = message_id
        return True

    async def _api_answercallbackquery(self, p: dict[str, str]) -> Any:
        self.answers.append(p)
        return True

    def _new_message_id(self, chat_id: int) -> int:
        n = self._next_message_id.get(chat_id, 100) + 1
        self._next_message_id[chat_id] = n
        return n

    def _message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        stored = self.messages[(chat_id, message_id)]
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": BOT_USER,
            "text": stored["text"],
        }
        if stored.get("reply_markup"):
            msg["reply_markup"] = stored["reply_markup"]
        return msg


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
    return {"id": chat_id, "type": "group", "title": f"group{chat_id}"}


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def _params(request: web.Request) -> dict[str, str]:
    """Query string plus body, whatever the encoding; non-string JSON values re-encoded as JSON text."""
    out: dict[str, str] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        for k, v in (body or {}).items():
            out[k] = v if isinstance(v, str) else json.dumps(v)
    elif request.can_read_body:
        form = await request.post()
        for k, v in form.items():
            out[k] = v if isinstance(v, str) else str(v)
    return out
