"""Keep the bot token out of log records.

The token is part of every Bot API URL (``/bot<id>:<secret>/sendMessage``); httpx logs each request URL
at INFO, and PTB's ``InvalidToken`` message from ``initialize`` quotes the token verbatim. A logging filter
on those libraries' loggers rewrites each record (message, arguments, formatted traceback) before any
handler sees it. It is a second line of defence: the notifier itself never formats the token.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

TOKEN_PATTERN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
REPLACEMENT = "<redacted-token>"

SCRUBBED_LOGGER_PREFIXES = ("telegram", "httpx", "httpcore", "monitor.notify")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, REPLACEMENT)
    return TOKEN_PATTERN.sub(REPLACEMENT, text)


class TokenScrubFilter(logging.Filter):
    """Rewrites a record so that neither its message nor its traceback contains a bot token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def add_secret(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets = (*self._secrets, secret)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        clean = scrub(message, self._secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self._secrets)
        return True


_FILTER = TokenScrubFilter()


def install_token_scrubber(secrets: Iterable[str] = ()) -> TokenScrubFilter:
    """Attach the (process-wide) scrubbing filter to the Telegram, httpx and notifier loggers.

    A filter on a logger only sees records created on that very logger, not those propagated from
    children, so it is attached to every existing logger under the prefixes (PTB and httpx create theirs
    at import time, which has happened by the time the notifier starts). Idempotent.
    """
    for s in secrets:
        _FILTER.add_secret(s)
    names = set(SCRUBBED_LOGGER_PREFIXES)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(SCRUBBED_LOGGER_PREFIXES):
            names.add(name)
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
