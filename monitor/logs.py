"""Logging: one structlog pipeline for our records and every library's, with secrets redacted.

ccxt logs request headers (API keys) at DEBUG and puts signed URLs in exception messages; httpx logs
every Telegram request URL, which holds the bot token, at INFO. Rather than trusting each library, every
record, ours or theirs, passes the same redaction before it is rendered: keys that name a secret are
masked, known secret values registered at start-up are replaced wherever they appear, and patterns that
look like credentials (bot tokens, signatures, listen keys) are scrubbed.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal

import structlog

MASK = "***"
_SECRET_KEYS = re.compile(
    r"(api[_-]?key|apikey|secret|password|passphrase|token|signature|listen[_-]?key|authorization|x-mbx-apikey)",
    re.IGNORECASE,
)
_PATTERNS = (
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{20,}"), "bot" + MASK),
    (re.compile(r"(signature=)[0-9a-fA-F]{16,}"), r"\1" + MASK),
    (re.compile(r"(listenKey=)[A-Za-z0-9]{16,}"), r"\1" + MASK),
    (re.compile(r"(?i)(['\"]?x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9]{8,}"), r"\1" + MASK),
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secrets(values: Iterable[str | None]) -> None:
    """Values that must never be written anywhere (API keys and secrets, bot tokens)."""
    global _secrets
    with _lock:
        # short strings would mask ordinary words; real credentials are long
        _secrets = _secrets | {v for v in values if v and len(v) >= 8}


def scrub(text: str) -> str:
    """Remove every registered secret and credential-looking pattern from ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _scrub_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(key, v) for v in value)
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret keys and scrub every string value."""
    for key in list(event_dict):
        event_dict[key] = _scrub_value(key, event_dict[key])
    return event_dict


def _scrub_rendered(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # exceptions are formatted into text late; scrub the text too
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = scrub(event_dict[key])
    return event_dict


LogFormat = Literal["auto", "json", "console"]

# Chatty libraries: their INFO/DEBUG records carry URLs and headers and add nothing for operators.
QUIET_LIBRARIES = (
    "ccxt",
    "httpx",
    "httpcore",
    "telegram",
    "apscheduler",
    "websockets",
    "aiohttp.access",
    "asyncio",
)


# sd-daemon(3) priorities: systemd reads a "<N>" line prefix as the line's priority (SyslogLevelPrefix=)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalPriority(logging.Formatter):
    """Prefixes each line with its syslog priority, so ``journalctl -p warning`` filters by the
    record's level (an alert's record carries its severity) although the line itself is JSON."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>" + self.inner.format(record)


def writes_to_journal(stream: Any) -> bool:
    """Whether ``stream`` is the journal's stream socket: systemd names it in ``$JOURNAL_STREAM``
    (``device:inode``) for the service's stdout and stderr."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def configure(fmt: LogFormat = "auto", level: str = "info", stream: Any = None) -> None:
    """Route structlog and stdlib logging through one redacting pipeline.

    ``auto`` renders for people on a TTY and JSON otherwise (systemd's journal, Docker).
    """
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _scrub_rendered,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalPriority(formatter) if writes_to_journal(stream) else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
