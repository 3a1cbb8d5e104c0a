"""Telegram delivery: python-telegram-bot inside the daemon's own event loop.

Three tasks share one PTB ``Application`` (no ``run_polling``: the daemon owns the loop):

- the *connector* initialises the bot (``getMe``), retrying with backoff while Telegram is unreachable
  (the daemon must start even when Telegram is down), then starts long polling for commands and button
  presses;
- the *sender* drains the SQLite outbox (``monitor.notify.outbox`` explains what is guaranteed);
- the *status* task edits one pinned status message per chat every few minutes instead of sending
  heartbeat messages, and soon after the worst open level changes. It starts only once the daemon
  says it is ready (``daemon_ready``): a status of "0 accounts, no feeds" pinned by a process that
  then fails to start would claim that all is well while nothing is watched. The message is the same
  one across restarts (its id is kept in the state file); a new one is posted only when Telegram says
  the old one is gone.

Only allowed chats and users get answers; everyone else gets nothing and is logged. Every send to a chat
goes through one pacer (about one message per second per chat). The bot token is never formatted into a
log line, a message or the state file, and a logging filter scrubs it from the libraries' records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from monitor.alerts import Alert, Level
from monitor.notify.channel import ChannelHealth, assess_channel
from monitor.notify.outbox import Candidate, NewPart, Outbox, Part, PendingBatch
from monitor.notify.pacing import Backoff, ChatPacer
from monitor.notify.pending_actions import PendingAction, PendingActions, Refusal, TokenKind
from monitor.notify.pins import StatusPins
from monitor.notify.ports import (
    ActionPort,
    ActionRequest,
    ActionsAllowed,
    ControlPort,
    StatusPort,
    no_actions,
)
from monitor.notify.redact import install_token_scrubber, scrub
from monitor.notify.render import (
    HELP_TEXT,
    MAX_MESSAGE_UTF16,
    RESENT_PREFIX,
    fmt_num,
    render_action_result,
    render_batch,
    render_levels,
    render_positions,
    render_preview,
    render_risk,
    render_status,
    split_text,
    utf16_len,
)
from monitor.notify.routing import (
    ack_keys,
    chat_accepts,
    is_silent,
    message_level,
    offers_for,
    parse_duration,
)
from monitor.notify.settings import ChatSettings, TelegramSettings
from monitor.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
MAX_UNCERTAIN_ATTEMPTS = 5  # an unexplained TelegramError is retried this often, then marked failed
PURGE_AFTER_MS = 7 * 86_400_000

# callback_data prefixes: p = preview an offer, c = confirm, x = cancel, a = ack
OP_PREVIEW, OP_CONFIRM, OP_CANCEL, OP_ACK = "p", "c", "x", "a"

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
Context = ContextTypes.DEFAULT_TYPE
CommandFn = Callable[[int, int, list[str]], Awaitable[str]]


# an edit of the status message refused with one of these: post and pin a new one
STATUS_GONE = ("message to edit not found", "message can't be edited")
TOKEN_REJECTED = "the Bot API rejected the bot token (HTTP 401 Unauthorized)"


class EndpointNotFound(TelegramError):
    """The Bot API URL answered HTTP 404: there is no Bot API there (a wrong ``api_base_url``), which
    says nothing about the token. python-telegram-bot raises ``InvalidToken`` for 401 and 404 alike."""

    def __init__(self, method: str) -> None:
        super().__init__(f"HTTP 404 Not Found for {method}")
        self.method = method


class StatusAwareRequest(HTTPXRequest):
    """PTB's HTTP transport, raising ``EndpointNotFound`` for a 404 so it is not taken for a bad token."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == HTTPStatus.NOT_FOUND:
            url = str(kwargs.get("url", args[0] if args else ""))
            raise EndpointNotFound(url.rpartition("/")[2])  # the method name; the token is before it
        return code, payload


class TelegramNotifier:
    """Alerts to Telegram, commands and buttons from Telegram.

    ``enqueue`` is synchronous and durable: when it returns, the alerts are in the SQLite outbox and will
    be delivered (after a restart if need be). Call it from the loop thread.
    """

    def __init__(
        self,
        settings: TelegramSettings,
        conn: Any,
        *,
        status: StatusPort,
        control: ControlPort,
        actions: ActionPort,
        allowed_actions: ActionsAllowed = no_actions,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._tuning = settings.tuning
        self._status = status
        self._control = control
        self._actions = actions
        self._allowed_actions = allowed_actions
        self._wall = wall_clock
        self.outbox = Outbox(conn, clock_ms=self._now_ms)
        self.pending = PendingActions(conn, clock_ms=self._now_ms)
        self._pins = StatusPins(conn)
        self._pacer = ChatPacer(
            self._tuning.per_chat_interval_s,
            group_interval_s=self._tuning.group_interval_s,
            global_interval_s=self._tuning.global_interval_s,
        )
        self._backoff = Backoff(self._tuning.backoff_initial_s, self._tuning.backoff_max_s)
        self._backoff_until = 0.0
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._daemon_ready = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._shown_worst: Level | None = None
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: asyncio.Task[None] | None = None
        self._app: AnyApplication | None = None
        self._last_poll_error_log = 0.0
        self._outage_since: float | None = None
        # the channel's health: why the Bot API refuses the bot (until a call succeeds), since when
        # messages wait, the last delivery and the last error
        self._rejected: str | None = None
        self._waiting_since: float | None = None
        self._last_delivery = 0.0
        self._last_error: str | None = None

    # --- public API -----------------------------------------------------------------------------------

    def enqueue(self, alerts: Sequence[Alert]) -> None:
        """Persist one evaluation's alerts: one message per chat, for the chats whose level they reach."""
        if not alerts:
            return
        if self.outbox.enqueue(self._routed(alerts)) is not None:
            self._wake.set()
            if self._waiting_since is None:  # the sender resets it when it finds nothing to send
                self._waiting_since = time.monotonic()
        self._status_wake.set()  # the worst open level may have changed

    def daemon_ready(self) -> None:
        """The daemon watches (connected, first snapshots in): the pinned status may now be published."""
        self._daemon_ready.set()

    def channel_health(self) -> ChannelHealth:
        """Whether alerts get through (``monitor.notify.channel`` says when they do not)."""
        pending = self.outbox.pending_count()
        if pending == 0:
            self._waiting_since = None
        waiting = (
            None
            if self._waiting_since is None
            else time.monotonic() - max(self._waiting_since, self._last_delivery)
        )
        return assess_channel(
            "telegram",
            pending=pending,
            rejected=self._rejected,
            waiting_s=waiting,
            degraded_after_s=self._tuning.degraded_after_s,
            last_error=self._last_error,
        )

    def stage(self, conn: sqlite3.Connection, alerts: Sequence[Alert]) -> bool:
        """``enqueue`` on ``conn``, inside the transaction its caller has open (the daemon's decision), so
        that the decision and its messages commit together. Returns False, having written nothing, when
        ``conn`` is not open on this notifier's state file."""
        if not self.outbox.shares_database(conn):
            return False
        if alerts and self.outbox.enqueue(self._routed(alerts), into=conn) is not None:
            self._wake.set()  # the sender runs after the caller's commit: it is on this loop
        return True

    def _routed(self, alerts: Sequence[Alert]) -> dict[int, list[Alert]]:
        return {c.chat_id: [a for a in alerts if chat_accepts(c, a)] for c in self._settings.chats}

    async def start(self) -> None:
        """Start delivering. Returns at once: connecting to Telegram continues in the background."""
        if self._app is not None:
            raise RuntimeError("TelegramNotifier already started")
        install_token_scrubber([self._settings.token])
        self.outbox.purge(self._now_ms() - PURGE_AFTER_MS)
        self.pending.purge(self._now_ms() - PURGE_AFTER_MS)
        if self.outbox.pending_count():  # left by an earlier run: waiting from now on
            self._waiting_since = time.monotonic()
        self._app = self._build_application()
        self._stopping = False
        self._tasks = [asyncio.create_task(self._connect(), name="telegram-connect")]
        self._sender = asyncio.create_task(self._send_loop(), name="telegram-sender")
        if self._tuning.status_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._status_loop(), name="telegram-status"))

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Deliver what is queued for at most ``flush_timeout_s``, then stop. Whatever is left stays in
        the outbox for the next start."""
        if self._app is None:
            return
        self._stopping = True
        self._wake.set()
        if self._sender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._sender), timeout=flush_timeout_s)
            except TimeoutError:
                left = self.outbox.pending_count()
                log.warning(
                    "telegram: stopping with %d message(s) still queued; they go out on next start", left
                )
            finally:
                await cancel_and_wait([self._sender])
        for task in self._tasks:
            await cancel_and_wait([task])
        app, self._app = self._app, None
        self._sender, self._tasks = None, []
        self._ready.clear()
        self._daemon_ready.clear()
        self._shown_worst = None
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
            await app.bot.shutdown()  # the request objects, if initialisation never completed
        except Exception as exc:
            log.warning("telegram: error while shutting down: %s", self._describe(exc))

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the Bot API answered ``getMe`` (True) or ``timeout_s`` passes (False)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (True) or ``timeout_s`` passes (False). For tests and tools."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending_count():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def refresh_status(self) -> None:
        """Edit (or send and pin) the status message of every chat that wants one."""
        bot = self._bot()
        summary = self._status.status()
        text = render_status(summary, self._now_ms())
        self._shown_worst = summary.worst_level
        for chat in self._settings.chats:
            if not chat.pin_status:
                continue
            message_id = self._pins.get(chat.chat_id)
            if message_id is not None:
                try:
                    await self._pacer.acquire(chat.chat_id)
                    await bot.edit_message_text(text=text, chat_id=chat.chat_id, message_id=message_id)
                    continue
                except BadRequest as exc:
                    reason = str(exc).lower()
                    if "not modified" in reason:
                        continue
                    if not any(gone in reason for gone in STATUS_GONE):
                        # keep the message: a new pin for every refused edit is what this avoids
                        log.warning(
                            "telegram: cannot edit the status message of chat %s: %s", chat.chat_id, exc
                        )
                        continue
                    log.info(
                        "telegram: status message of chat %s is gone (%s); pinning a new one",
                        chat.chat_id,
                        exc,
                    )
                    self._pins.forget(chat.chat_id)
            await self._pacer.acquire(chat.chat_id)
            msg = await bot.send_message(chat_id=chat.chat_id, text=text, disable_notification=True)
            self._pins.set(chat.chat_id, msg.message_id)
            try:
                await bot.pin_chat_message(
                    chat_id=chat.chat_id, message_id=msg.message_id, disable_notification=True
                )
            except BadRequest as exc:
                log.warning("telegram: cannot pin the status message in chat %s: %s", chat.chat_id, exc)

    # --- wiring ---------------------------------------------------------------------------------------

    def _build_application(self) -> AnyApplication:
        t = self._tuning
        request = StatusAwareRequest(
            connection_pool_size=8,
            connect_timeout=t.connect_timeout_s,
            read_timeout=t.request_timeout_s,
            write_timeout=t.request_timeout_s,
            pool_timeout=t.connect_timeout_s,
        )
        updates_request = StatusAwareRequest(
            connection_pool_size=2,
            connect_timeout=t.connect_timeout_s,
            read_timeout=t.request_timeout_s,
            write_timeout=t.request_timeout_s,
            pool_timeout=t.connect_timeout_s,
        )
        app: AnyApplication = (
            ApplicationBuilder()
            .token(self._settings.token)
            .base_url(self._settings.bot_base_url)
            .base_file_url(self._settings.bot_file_base_url)
            .request(request)
            .get_updates_request(updates_request)
            .job_queue(None)
            .build()
        )
        commands: dict[str, CommandFn] = {
            "status": self._cmd_status,
            "positions": self._cmd_positions,
            "risk": self._cmd_risk,
            "mute": self._cmd_mute,
            "unmute": self._cmd_unmute,
            "ack": self._cmd_ack,
            "levels": self._cmd_levels,
            "halt": self._cmd_halt,
            "resume": self._cmd_resume,
            "help": self._cmd_help,
            "start": self._cmd_help,
        }
        for name, fn in commands.items():
            app.add_handler(CommandHandler(name, self._command(name, fn)))
        app.add_handler(MessageHandler(filters.COMMAND, self._on_unknown_command))
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_error_handler(self._on_handler_error)
        return app

    def _bot(self) -> Any:
        if self._app is None:
            raise RuntimeError("TelegramNotifier not started")
        return self._app.bot

    async def _connect(self) -> None:
        app = self._app
        assert app is not None
        backoff = Backoff(self._tuning.backoff_initial_s, self._tuning.backoff_max_s)
        while True:
            try:
                await app.initialize()
                break
            except InvalidToken:
                # PTB's message quotes the token: never log it. Alerts stay queued in the outbox.
                self._refused(TOKEN_REJECTED)
                await asyncio.sleep(backoff.max_s)
            except EndpointNotFound as exc:
                self._refused(self._not_a_bot_api(exc))
                await asyncio.sleep(backoff.max_s)
            except TelegramError as exc:
                delay = backoff.next()
                self._last_error = self._describe(exc)
                log.warning(
                    "telegram: Bot API not reachable (%s); retrying in %.1f s", self._last_error, delay
                )
                await asyncio.sleep(delay)
        log.info("telegram: connected to the Bot API")
        self._rejected = self._last_error = None
        self._ready.set()
        self._wake.set()
        await app.start()
        backoff.reset()
        while app.updater is not None:
            try:
                await app.updater.start_polling(
                    poll_interval=0.0,
                    timeout=timedelta(seconds=self._tuning.poll_timeout_s),
                    drop_pending_updates=True,
                    allowed_updates=ALLOWED_UPDATES,
                    error_callback=self._on_polling_error,
                )
                return
            except TelegramError as exc:
                delay = backoff.next()
                log.warning(
                    "telegram: cannot start polling (%s); retrying in %.1f s", self._describe(exc), delay
                )
                await asyncio.sleep(delay)

    def _on_polling_error(self, exc: TelegramError) -> None:
        if isinstance(exc, EndpointNotFound):
            self._refused(self._not_a_bot_api(exc))
            return
        if isinstance(exc, Conflict):
            log.error("telegram: another process is polling this bot; commands may go there instead")
            return
        now = time.monotonic()
        if now - self._last_poll_error_log >= 60:
            self._last_poll_error_log = now
            log.warning("telegram: polling for commands failed (%s); PTB keeps retrying", self._describe(exc))

    async def _on_handler_error(self, update: object, context: Context) -> None:
        err = context.error
        log.error(
            "telegram: a command or button handler failed: %s", self._describe(err) if err else "unknown"
        )

    # --- sender ---------------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while not self._ready.is_set():  # Telegram unreachable since start: nothing can go out yet
            # stopping: nothing to flush, or nothing could be (the Bot API refuses this bot)
            if self._stopping and (self._rejected is not None or self.outbox.pending_count() == 0):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=0.2)
        while True:
            try:
                if self._stopping and self.outbox.pending_count() == 0:
                    return
                now = time.monotonic()
                if now < self._backoff_until:
                    await asyncio.sleep(self._backoff_until - now)
                    continue
                if (wait := self._pacer.global_wait()) > 0:
                    await asyncio.sleep(wait)
                    continue
                self._wake.clear()
                blocked = self._pacer.blocked()
                candidate = self.outbox.next_candidate(exclude_chats=blocked.keys())
                if candidate is None:
                    if not blocked:  # the outbox is empty: nothing waits any more
                        self._waiting_since = None
                    timeout = min(blocked.values()) - time.monotonic() if blocked else None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                    continue
                await self._deliver(candidate)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("telegram: sender step failed; retrying")
                self._backoff_until = time.monotonic() + self._backoff.next()

    async def _deliver(self, candidate: Candidate) -> None:
        part = self._materialize(candidate) if isinstance(candidate, PendingBatch) else candidate
        bot = self._bot()
        markup = (
            InlineKeyboardMarkup.de_json(json.loads(part.reply_markup), bot) if part.reply_markup else None
        )
        text = RESENT_PREFIX + part.text if part.uncertain else part.text
        self._pacer.reserve(part.chat_id)
        where = f"chat {part.chat_id} batch {part.batch} part {part.index + 1}/{part.count}"
        self.outbox.begin_send(part.id)
        try:
            msg: Message = await bot.send_message(
                chat_id=part.chat_id,
                text=text,
                disable_notification=part.silent,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except asyncio.CancelledError:
            self.outbox.mark_uncertain(part.id, "cancelled while sending")
            raise
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self._pacer.block_for(part.chat_id, seconds)
            self.pending.discard(self.outbox.release(part, "429"))
            log.warning("telegram: flood control on %s; waiting %.1f s", where, seconds)
        except BadRequest as exc:
            self.outbox.mark_failed(part.id, f"BadRequest: {exc}")
            log.error("telegram: Bot API refused %s (not retried): %s", where, self._describe(exc))
        except TimedOut as exc:
            if surely_not_sent(exc):
                self.pending.discard(self.outbox.release(part, self._describe(exc)))
            else:
                self.outbox.mark_uncertain(part.id, self._describe(exc))
                log.warning(
                    "telegram: %s timed out after sending; it will be resent marked as possible duplicate",
                    where,
                )
            self._network_trouble(exc)
        except NetworkError as exc:
            self.pending.discard(self.outbox.release(part, self._describe(exc)))
            self._network_trouble(exc)
        except InvalidToken:
            self.pending.discard(self.outbox.release(part, "InvalidToken"))
            self._refused(TOKEN_REJECTED)
            self._backoff_until = time.monotonic() + self._backoff.max_s
        except EndpointNotFound as exc:
            self.pending.discard(self.outbox.release(part, str(exc)))
            self._refused(self._not_a_bot_api(exc))
            self._backoff_until = time.monotonic() + self._backoff.max_s
        except (Forbidden, ChatMigrated) as exc:
            self.outbox.mark_failed(part.id, self._describe(exc))
            log.error(
                "telegram: cannot write to chat %s (%s); %s dropped", part.chat_id, self._describe(exc), where
            )
        except TelegramError as exc:
            if part.attempts + 1 >= MAX_UNCERTAIN_ATTEMPTS:
                self.outbox.mark_failed(part.id, self._describe(exc))
                log.error("telegram: giving up on %s: %s", where, self._describe(exc))
            else:
                self.outbox.mark_uncertain(part.id, self._describe(exc))
                self._network_trouble(exc)
        else:
            # Durable before anything else can happen: this is what makes delivery exactly-once.
            self.outbox.mark_sent(part.id, msg.message_id)
            self.pending.restart_clock(part.tokens)
            self._backoff.reset()
            self._backoff_until = 0.0
            self._last_delivery = time.monotonic()
            self._rejected = self._last_error = None
            if self._outage_since is not None:
                log.info(
                    "telegram: Bot API reachable again after %.0f s; %d message(s) queued",
                    time.monotonic() - self._outage_since,
                    self.outbox.pending_count(),
                )
                self._outage_since = None

    def _refused(self, cause: str) -> None:
        """The Bot API refuses the bot itself: say why once (and again if the cause changes); the
        channel is unhealthy until a call succeeds."""
        if cause != self._rejected:
            log.error("telegram: %s; alerts stay queued until it is fixed", cause)
        self._rejected = cause

    def _not_a_bot_api(self, exc: EndpointNotFound) -> str:
        parts = urlsplit(self._settings.api_base_url)  # named without any user:password@ it holds
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port is not None else "")
        base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return (
            f"no Bot API at {base} ({exc.message}): check api_base_url; "
            "this is not a verdict on the bot token"
        )

    def _network_trouble(self, exc: TelegramError) -> None:
        """Back off; say so once per outage at WARNING (then DEBUG) so a long outage does not flood logs."""
        self._last_error = self._describe(exc)
        delay = self._backoff.next()
        self._backoff_until = time.monotonic() + delay
        level = logging.DEBUG if self._outage_since is not None else logging.WARNING
        if self._outage_since is None:
            self._outage_since = time.monotonic()
        log.log(
            level, "telegram: Bot API unreachable (%s); next attempt in %.1f s", self._describe(exc), delay
        )

    def _materialize(self, batch: PendingBatch) -> Part:
        chat = self._settings.chat(batch.chat_id) or ChatSettings(chat_id=batch.chat_id)
        limit = MAX_MESSAGE_UTF16 - utf16_len(RESENT_PREFIX)
        try:
            texts = render_batch(batch.alerts, limit=limit)
        except Exception:
            log.exception("telegram: rendering failed; sending the plain alert messages")
            texts = split_text(
                "\n\n".join(
                    f"{a.level.name} {a.account} {a.symbol or ''}\n{a.message}" for a in batch.alerts
                ),
                limit=limit,
            )
        tokens: list[str] = []
        rows: list[list[InlineKeyboardButton]] = []
        row: list[InlineKeyboardButton] = []
        subject: tuple[str, str] | None = None
        for offer in offers_for(batch.alerts, allowed=self._allowed_actions):
            if subject is not None and (offer.symbol, offer.position_side) != subject and row:
                rows.append(row)
                row = []
            subject = (offer.symbol, offer.position_side)
            request = ActionRequest(
                offer.account, offer.symbol, offer.position_side, offer.action, offer.fraction
            )
            token = self.pending.create(
                TokenKind.OFFER,
                chat.chat_id,
                ttl_s=self._tuning.action_ttl_s,
                request=request,
                size_seen=offer.size_seen,
            )
            tokens.append(token)
            row.append(InlineKeyboardButton(offer.label, callback_data=f"{OP_PREVIEW}:{token}"))
        if row:
            rows.append(row)
        keys = ack_keys(batch.alerts)
        if keys:
            token = self.pending.create(TokenKind.ACK, chat.chat_id, ttl_s=self._tuning.ack_ttl_s, keys=keys)
            tokens.append(token)
            rows.append([InlineKeyboardButton("✅ Ack", callback_data=f"{OP_ACK}:{token}")])
        markup = json.dumps(InlineKeyboardMarkup(rows).to_dict()) if rows else None
        parts = [NewPart(t) for t in texts[:-1]] + [NewPart(texts[-1], markup)]
        silent = is_silent(message_level(batch.alerts), chat, self._now())
        return self.outbox.materialize(batch, parts, silent=silent, tokens=tokens)

    async def _status_loop(self) -> None:
        await self._ready.wait()
        await self._daemon_ready.wait()
        t = self._tuning
        while True:
            try:
                await self.refresh_status()
            except (TelegramError, httpx.HTTPError) as exc:
                log.warning("telegram: status message update failed: %s", self._describe(exc))
            except Exception:
                log.exception("telegram: status message update failed")
            edited = time.monotonic()
            due = edited + t.status_interval_s
            while (left := due - time.monotonic()) > 0:
                self._status_wake.clear()  # before the check: an alert from now on wakes the wait
                if self._worst_level_changed():
                    # a new worst level shows soon: at most once per status_min_interval_s, and
                    # once the alerts have had the chats to themselves for a moment
                    await self._status_calm(edited + t.status_min_interval_s, due)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._status_wake.wait(), timeout=left)

    async def _status_calm(self, not_before: float, due: float) -> None:
        """Wait until ``not_before`` and until no alert waits and none went out for two send slots,
        or until ``due``. An edit takes a chat's send slot: during a burst it would make the next
        alert wait up to a slot (a second), and the alerts already say what the level is."""
        t = self._tuning
        slot = max(
            t.per_chat_interval_s, t.group_interval_s if any(c < 0 for c in self._settings.chat_ids) else 0
        )
        while (now := time.monotonic()) < due:
            ready = max(not_before, self._last_delivery + 2 * slot)
            if now >= ready and self.outbox.pending_count() == 0:
                return
            await asyncio.sleep(min(due - now, max(ready - now, slot, 0.01)))

    def _worst_level_changed(self) -> bool:
        try:
            return self._status.status().worst_level != self._shown_worst
        except Exception:
            log.exception("telegram: reading the status failed")
            return False

    # --- commands -------------------------------------------------------------------------------------

    def _allowed(self, update: Update, what: str) -> bool:
        chat = update.effective_chat
        user = update.effective_user
        if (
            chat is not None
            and user is not None
            and chat.id in self._settings.chat_ids
            and user.id in self._settings.authorized_users
        ):
            return True
        log.warning(
            "telegram: refused %s from chat %s user %s",
            what,
            chat.id if chat else None,
            user.id if user else None,
        )
        return False

    def _command(self, name: str, fn: CommandFn) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        async def handle(update: Update, context: Context) -> None:
            if not self._allowed(update, f"/{name}"):
                return
            assert update.effective_chat is not None and update.effective_user is not None
            chat_id, user_id = update.effective_chat.id, update.effective_user.id
            try:
                text = await fn(chat_id, user_id, list(context.args or []))
            except Exception:
                log.exception("telegram: /%s failed", name)
                text = f"/{name} failed inside the daemon; see its log."
            # quote the command: in a group several people may ask at once
            message = update.effective_message
            await self._reply(chat_id, text, reply_to=message.message_id if message is not None else None)

        return handle

    async def _on_unknown_command(self, update: Update, context: Context) -> None:
        if self._allowed(update, "an unknown command") and update.effective_chat is not None:
            await self._reply(update.effective_chat.id, "Unknown command.\n\n" + HELP_TEXT)

    async def _reply(
        self,
        chat_id: int,
        text: str,
        *,
        reply_markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
    ) -> Message | None:
        """Send an interactive answer directly (not through the outbox: it is only useful now)."""
        bot = self._bot()
        last: Message | None = None
        parts = split_text(text)
        for i, part in enumerate(parts):
            await self._pacer.acquire(chat_id)
            final = i == len(parts) - 1
            try:
                last = await bot.send_message(
                    chat_id=chat_id,
                    text=part,
                    reply_markup=reply_markup if final else None,
                    reply_parameters=(
                        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                        if reply_to is not None and i == 0
                        else None
                    ),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except RetryAfter as exc:
                self._pacer.block_for(chat_id, retry_after_seconds(exc))
                log.warning("telegram: flood control while answering chat %s", chat_id)
                return last
            except TelegramError as exc:
                log.warning("telegram: could not answer chat %s: %s", chat_id, self._describe(exc))
                return last
        return last

    async def _cmd_status(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return render_status(self._status.status(), self._now_ms())

    async def _cmd_positions(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return render_positions(self._status.positions())

    async def _cmd_risk(self, chat_id: int, user_id: int, args: list[str]) -> str:
        if len(args) != 1:
            return "Usage: /risk ACCOUNT"
        view = self._status.account_risk(args[0])
        return render_risk(view) if view is not None else f"No account named {args[0]!r}."

    async def _cmd_mute(self, chat_id: int, user_id: int, args: list[str]) -> str:
        if not 1 <= len(args) <= 2:
            return "Usage: /mute DURATION [SYMBOL], e.g. /mute 30m or /mute 2h BTC/USDT:USDT"
        try:
            seconds = parse_duration(args[0])
        except ValueError as exc:
            return str(exc)
        result = await self._control.mute(seconds, args[1] if len(args) == 2 else None, user_id)
        return result.message

    async def _cmd_unmute(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return (await self._control.unmute(user_id)).message

    async def _cmd_ack(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return (await self._control.ack(None, user_id)).message

    async def _cmd_levels(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return render_levels(self._status.levels())

    async def _cmd_halt(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return (await self._control.halt(user_id)).message

    async def _cmd_resume(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return (await self._control.resume(user_id)).message

    async def _cmd_help(self, chat_id: int, user_id: int, args: list[str]) -> str:
        return HELP_TEXT

    # --- buttons --------------------------------------------------------------------------------------

    async def _on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        if not self._allowed(update, "a button press"):
            await _quietly(query.answer("Not allowed."))
            return
        assert update.effective_chat is not None
        chat_id, user_id = update.effective_chat.id, query.from_user.id
        op, _, token = (query.data or "").partition(":")
        kinds = {
            OP_PREVIEW: [TokenKind.OFFER],
            OP_CONFIRM: [TokenKind.CONFIRM],
            OP_CANCEL: [TokenKind.CONFIRM],
            OP_ACK: [TokenKind.ACK],
        }.get(op)
        if kinds is None or not token:
            await _quietly(query.answer(Refusal.UNKNOWN.value, show_alert=True))
            return
        found = self.pending.consume(token, chat_id=chat_id, user_id=user_id, kinds=kinds)
        if isinstance(found, Refusal):
            log.info("telegram: button refused for user %s: %s", user_id, found.name)
            await _quietly(query.answer(found.value, show_alert=True))
            return
        if op in (OP_PREVIEW, OP_CONFIRM) and (refused := self._not_allowed(found.request())):
            # a button from before a restart with other de-risk settings: the mode decides, not the button
            log.info("telegram: button refused for user %s: %s", user_id, refused)
            await _quietly(query.answer(refused, show_alert=True))
            await _quietly(query.edit_message_reply_markup(reply_markup=_without_button(query)))
            return
        try:
            if op == OP_ACK:
                await self._press_ack(query, found, user_id)
            elif op == OP_PREVIEW:
                await self._press_preview(query, found, chat_id)
            elif op == OP_CONFIRM:
                await self._press_confirm(query, found, user_id)
            else:
                await _quietly(query.answer("Cancelled."))
                await _quietly(query.edit_message_reply_markup(reply_markup=None))
                await _quietly(query.edit_message_text(_message_text(query) + "\n\nCancelled."))
        except Exception:
            log.exception("telegram: handling a button press failed")
            await _quietly(query.answer("Failed inside the daemon; see its log.", show_alert=True))

    def _not_allowed(self, request: ActionRequest) -> str | None:
        """Why the account's de-risk mode does not allow this action now, or None if it does."""
        if request.action in self._allowed_actions(request.account):
            return None
        return f"{request.action.value.replace('_', ' ')} is not allowed for account {request.account}"

    async def _press_ack(self, query: CallbackQuery, found: PendingAction, user_id: int) -> None:
        result = await self._control.ack(list(found.keys), user_id)
        await _quietly(query.answer(result.message[:190]))
        await _quietly(query.edit_message_reply_markup(reply_markup=_without_button(query)))

    async def _press_preview(self, query: CallbackQuery, found: PendingAction, chat_id: int) -> None:
        request = found.request()
        preview = await self._actions.preview(request)
        text = render_preview(request, preview)
        if (
            found.size_seen is not None
            and preview.size is not None
            and preview.ok
            and preview.size != found.size_seen
        ):
            text = (
                f"Size changed since the alert: {fmt_num(found.size_seen)} → {fmt_num(preview.size)}\n" + text
            )
        markup = None
        if preview.ok:
            confirmed = replace(
                request, amount=preview.amount if preview.amount is not None else request.amount
            )
            token = self.pending.create(
                TokenKind.CONFIRM,
                chat_id,
                ttl_s=self._tuning.action_ttl_s,
                request=confirmed,
                size_seen=preview.size,
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Confirm", callback_data=f"{OP_CONFIRM}:{token}"),
                        InlineKeyboardButton("Cancel", callback_data=f"{OP_CANCEL}:{token}"),
                    ]
                ]
            )
        reply_to = query.message.message_id if query.message is not None else None
        sent = await self._reply(chat_id, text, reply_markup=markup, reply_to=reply_to)
        if sent is None:
            self.pending.give_back(found.token)
            await _quietly(query.answer("Could not send the preview; try again.", show_alert=True))
        else:
            await _quietly(query.answer())

    async def _press_confirm(self, query: CallbackQuery, found: PendingAction, user_id: int) -> None:
        # Answer and remove the keyboard first, so a second tap cannot reach the gateway; then act.
        await _quietly(query.answer("Working…"))
        await _quietly(query.edit_message_reply_markup(reply_markup=None))
        result = await self._actions.execute(found.request(), found.size_seen, user_id)
        await _quietly(query.edit_message_text(_message_text(query) + "\n\n" + render_action_result(result)))

    # --- helpers --------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), tz=UTC)

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    def _describe(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {scrub(str(exc), [self._settings.token])}"


def retry_after_seconds(exc: RetryAfter) -> float:
    """``retry_after`` as seconds, without touching PTB's deprecated int-or-timedelta property."""
    value: timedelta = exc._retry_after
    return max(0.0, value.total_seconds())


def surely_not_sent(exc: TimedOut) -> bool:
    """A timeout while connecting or waiting for a pooled connection: the request never left."""
    return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)


def _message_text(query: CallbackQuery) -> str:
    msg = query.message
    return msg.text or "" if isinstance(msg, Message) else ""


def _without_button(query: CallbackQuery) -> InlineKeyboardMarkup | None:
    """The message's keyboard minus the pressed button (None if nothing is left)."""
    msg = query.message
    if not isinstance(msg, Message) or msg.reply_markup is None:
        return None
    rows = [[b for b in row if b.callback_data != query.data] for row in msg.reply_markup.inline_keyboard]
    rows = [r for r in rows if r]
    return InlineKeyboardMarkup(rows) if rows else None


async def _quietly(awaitable: Awaitable[Any]) -> None:
    """Best-effort UI calls (answering a query, editing a keyboard): a failure is logged, not raised."""
    try:
        await awaitable
    except TelegramError as exc:
        log.info("telegram: best-effort call failed: %s", type(exc).__name__)
