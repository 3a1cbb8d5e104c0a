"""Secrets never reach a log line, whichever logger writes it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from monitor.logs import configure, get_logger, register_secrets, scrub

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """``configure`` changes process-wide logging; put it back so later tests see pytest's set-up."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    names = (
        "ccxt",
        "httpx",
        "httpcore",
        "telegram",
        "apscheduler",
        "websockets",
        "aiohttp.access",
        "asyncio",
    )
    saved = {n: logging.getLogger(n).level for n in names}
    stream = io.StringIO()
    configure("json", "debug", stream=stream)
    register_secrets([KEY, SECRET])
    yield stream
    root.handlers[:], root.level = saved_root[0], saved_root[1]
    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)
    structlog.reset_defaults()


def test_registered_values_are_masked_everywhere(out: io.StringIO) -> None:
    get_logger("t").info("connecting", url=f"https://x/fapi?apiKey={KEY}", nested={"a": [SECRET]})
    logging.getLogger("ccxt.base.exchange").warning("headers %s", {"X-MBX-APIKEY": KEY})
    text = out.getvalue()
    assert KEY not in text and SECRET not in text
    assert len(text.strip().splitlines()) == 2
    for line in text.strip().splitlines():
        json.loads(line)


def test_secret_named_keys_and_patterns(out: io.StringIO) -> None:
    get_logger("t").info("x", api_key="anything-at-all", token="tok", password="pw")
    logging.getLogger("httpx").warning(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage")
    logging.getLogger("other").warning(
        "signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9 listenKey=pqCLx3o2L1Yrb6RPrmOcJwBMDr5ZTxJTgqabcdefghi"
    )
    text = out.getvalue()
    assert "anything-at-all" not in text and TOKEN.split(":")[1] not in text
    assert (
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9" not in text
        and "pqCLx3o2L1Yrb6RPrmOcJwBMDr5ZTxJTgqabcdefghi" not in text
    )


def test_exceptions_are_scrubbed(out: io.StringIO) -> None:
    try:
        raise RuntimeError(f"binance GET https://fapi/x?signature=deadbeefdeadbeefdeadbeef&key={KEY}")
    except RuntimeError:
        get_logger("t").exception("failed")
    text = out.getvalue()
    assert KEY not in text and "deadbeefdeadbeefdeadbeef" not in text and "RuntimeError" in text


def test_scrub_is_plain_text_safe() -> None:
    register_secrets([KEY])
    assert scrub(f"a {KEY} b") == "a *** b"
    assert scrub("nothing secret here") == "nothing secret here"


def test_every_credential_of_an_account_is_registered_as_a_secret(out: io.StringIO) -> None:
    """A Bitget account's passphrase is a third credential: the runner registers an account's
    ``secrets``, and ccxt's debug headers carry it (ACCESS-PASSPHRASE) like the key."""
    from monitor.daemon.config import parse_config

    phrase = "Xk29LmQp77TrWbNc4vHs"
    settings = parse_config(
        {"accounts": [{"name": "bg", "venue": "bitget"}]},
        {"MONITOR_BG_API_KEY": KEY, "MONITOR_BG_API_SECRET": SECRET, "MONITOR_BG_API_PASSPHRASE": phrase},
    )
    (account,) = settings.accounts
    assert set(account.secrets) == {KEY, SECRET, phrase}
    register_secrets(account.secrets)
    logging.getLogger("ccxt.base.exchange").warning("headers %s", {"ACCESS-PASSPHRASE": phrase})
    assert phrase not in out.getvalue() and "ACCESS-PASSPHRASE" in out.getvalue()
