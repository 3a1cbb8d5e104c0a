"""Configuration: a TOML file validated with pydantic, secrets from the environment or from files.

The file holds no secret. An account names where its key and secret come from (``api_key_env`` /
``api_key_file``, defaulting to ``MONITOR_<ACCOUNT>_API_KEY`` / ``..._API_SECRET``); a file path may use
``$CREDENTIALS_DIRECTORY`` so systemd's ``LoadCredential=`` works unchanged. A secret written into the
TOML itself is refused with the key path, because config files end up in backups and repositories.

Every problem is reported at once with its key path (``accounts[1].venue``) and a reason in plain
words; the daemon refuses to start on any of them (exit 2). ``monitor check-config`` and ``monitor run``
read the file through the same ``load_config``, which checks every value ``run`` uses, including the
ones only used at start-up (the health address, the Telegram token's shape, quiet hours), and makes
the Telegram on/off decision once (``Settings.telegram``), so the two commands cannot disagree.

What this machine lacks (a secret's variable or file, ``$CREDENTIALS_DIRECTORY``, the state file's
directory) is kept apart from mistakes in the file (``ConfigError.missing``), so a file can be checked
on a machine that does not hold its secrets.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from monitor.actions.settings import Anomalies, Caps, DeriskSettings, SettingsError, Targets
from monitor.alerts import Level
from monitor.commands.config_hints import (
    ENV_NAME,
    did_you_mean,
    expand,
    looks_like_secret,
    unset_message,
    unset_variables,
)
from monitor.daemon.health import parse_listen
from monitor.model import Venue
from monitor.notify.settings import QuietHours, TelegramSettings
from monitor.notify.settings import SettingsError as TelegramSettingsError
from monitor.policy.settings import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    RepeatSchedule,
    StalenessConfig,
    ThresholdOverride,
)
from monitor.venues import registry
from monitor.venues.base import Endpoints, VenueAccount

# Venues whose API keys come with a passphrase, a third secret (Bitget, OKX).
PASSPHRASE_VENUES = frozenset({Venue.BITGET, Venue.BLOFIN, Venue.OKX})
_SECRET_KEYS = {"api_key", "apikey", "secret", "api_secret", "password", "passphrase", "token", "bot_token"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class ConfigError(ValueError):
    """Every problem found, each as ``(key_path, message)``: ``problems`` are mistakes in the file,
    ``missing`` what this machine lacks (secrets, ``$CREDENTIALS_DIRECTORY``, directories)."""

    def __init__(self, problems: list[tuple[str, str]], missing: list[tuple[str, str]] | None = None) -> None:
        self.problems = problems
        self.missing = missing or []
        super().__init__("; ".join(f"{k}: {m}" for k, m in [*problems, *self.missing]))


# TOML has real booleans: a quoted "false" is a mistake (and `dry_run = "false"` must not pass by luck)
Flag = Annotated[bool, Strict()]


def _env_name(value: str | None) -> str | None:
    """A ``*_env`` setting names a variable; a secret pasted there is refused without repeating it."""
    if value is None:
        return None
    if looks_like_secret(value):
        raise ValueError(
            "this looks like a secret, not the name of an environment variable: put the secret in the "
            "environment (or a file) and write the variable's name here (the value is not repeated)"
        )
    if not ENV_NAME.match(value):
        raise ValueError(
            "an environment variable name uses letters, digits and '_', e.g. MONITOR_MAIN_API_KEY"
        )
    return value


def _file_name(value: str | None) -> str | None:
    """A ``*_file`` setting names a file; a secret pasted there would be echoed by "cannot read ...",
    so one that looks like a secret and not like a path is refused without repeating it."""
    if value is not None and "/" not in value and looks_like_secret(value):
        raise ValueError(
            "this looks like a secret, not a file's path: put the secret in a file and write its path "
            "here (the value is not repeated)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if str(key).lower() in _SECRET_KEYS:
                    raise ValueError(
                        f"'{key}': secrets are not read from the config file; name an environment variable "
                        f"({key}_env) or a file ({key}_file) instead"
                    )
        return data


LevelName = Literal["info", "warn", "danger", "critical"]


class LevelsIn(_Strict):
    ratio_warn: float | None = Field(None, gt=0, le=2)
    ratio_danger: float | None = Field(None, gt=0, le=2)
    ratio_critical: float | None = Field(None, gt=0, le=2)
    ratio_band: float | None = Field(None, ge=0, lt=1)
    distance_warn_pct: float | None = Field(None, ge=0, le=100)
    distance_danger_pct: float | None = Field(None, ge=0, le=100)
    distance_critical_pct: float | None = Field(None, ge=0, le=100)
    distance_band: float | None = Field(None, ge=0, le=1)
    confirm_ticks: int | None = Field(None, ge=1, le=100)

    def override(self) -> ThresholdOverride:
        return ThresholdOverride(**self.model_dump())


class RepeatIn(_Strict):
    warn_minutes: float = Field(30, ge=0)
    danger_minutes: float = Field(10, ge=0)
    critical_minutes: float = Field(1, ge=0)


class StalenessIn(_Strict):
    marks_seconds: float = Field(15, gt=0)
    user_seconds: float = Field(120, gt=0)
    symbol_mark_seconds: float = Field(15, gt=0)
    level: LevelName = "danger"


class DeviationIn(_Strict):
    tolerance_pct: float = Field(0.5, gt=0)
    band_pct: float = Field(0.1, ge=0)


class PolicyIn(_Strict):
    levels: LevelsIn = Field(default_factory=LevelsIn)
    accounts: dict[str, LevelsIn] = {}
    symbols: dict[str, LevelsIn] = {}
    repeat: RepeatIn = Field(default_factory=RepeatIn)
    staleness: StalenessIn = Field(default_factory=StalenessIn)
    deviation: DeviationIn = Field(default_factory=DeviationIn)
    announce_initial_positions: Flag = False
    # a cross position shares the account's ratio: judging each by it would repeat the account's alert
    # once per position; off, positions are judged by their own distance and the account by its ratio
    cross_positions_use_account_ratio: Flag = False


class AccountIn(_Strict):
    name: str
    venue: Venue
    api_key_env: str | None = None
    api_key_file: str | None = None
    api_secret_env: str | None = None
    api_secret_file: str | None = None
    # Bitget's and BloFin's third credential (default variable MONITOR_<ACCOUNT>_API_PASSPHRASE)
    api_passphrase_env: str | None = None
    api_passphrase_file: str | None = None
    # a Hyperliquid account's wallet address: enough to watch it (not a secret); an agent wallet's
    # private key, only to act, goes in api_secret_env / api_secret_file
    address: str | None = None
    taker_fee: float = Field(0.0005, ge=0, lt=0.01)
    # BloFin: the broker id its orders carry (none by default: a key created as a plain API
    # transaction key refuses any, 152011), and how often its marks are polled (one poll serves the
    # venue's accounts: the shortest interval asked)
    broker_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    mark_poll_seconds: float = Field(1.0, ge=0.2, le=60)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not _ADDRESS.fullmatch(v):
            raise ValueError("write the wallet address: 0x and 40 hex digits")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use 1-40 letters, digits, '_', '-' or '.'")
        return v

    _env = field_validator("api_key_env", "api_secret_env", "api_passphrase_env")(_env_name)
    _file = field_validator("api_key_file", "api_secret_file", "api_passphrase_file")(_file_name)


def _url(value: str, schemes: tuple[str, ...], example: str) -> str:
    """A URL the clients can use: the scheme, a host, a port within range (only used at start-up, so
    checked here rather than found by a start-up that fails and restarts)."""
    if not value.startswith(tuple(f"{s}://" for s in schemes)) or value[-3:] == "://":
        raise ValueError(f"must start with {' or '.join(f'{s}://' for s in schemes)}, e.g. {example}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValueError(f"not a usable URL (check the host and the port), e.g. {example}") from None
    if not parts.hostname:
        raise ValueError(f"names no host, e.g. {example}")
    return value


class EndpointIn(_Strict):
    rest_url: str
    ws_url: str

    @field_validator("rest_url")
    @classmethod
    def _rest(cls, v: str) -> str:
        return _url(v, ("http", "https"), "http://127.0.0.1:8765")

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, v: str) -> str:
        return _url(v, ("ws", "wss"), "ws://127.0.0.1:8765")


class ServiceIn(_Strict):
    state_file: str = "monitor-state.sqlite3"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    resync_seconds: float = Field(45, ge=5, le=3600)
    tiers_refresh_hours: float = Field(24, gt=0, le=168)
    stale_exit_seconds: float = Field(0, ge=0)
    # a venue's marks are evaluated at most once per window, those in between merged (0 = each alone)
    mark_window_ms: int = Field(50, ge=0, le=1000)


class ChatIn(_Strict):
    chat_id: int
    min_level: LevelName = "warn"
    quiet_hours: str | None = None

    @field_validator("chat_id")
    @classmethod
    def _chat(cls, v: int) -> int:
        if v == 0:
            raise ValueError(
                "0 is not a chat id: a private chat's id is the user's id, a group's is negative"
            )
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            QuietHours.parse(v)
        except TelegramSettingsError:
            raise ValueError("write the window as HH:MM-HH:MM in UTC, e.g. 22:00-07:00") from None
        return v


def check_api_base_url(value: str) -> str:
    """The Bot API server's root. The client appends ``/bot<token>/<method>`` itself, so a URL ending
    in ``/bot`` (as a request URL would) is refused rather than silently doubled or trimmed."""
    _url(value, ("http", "https"), "http://127.0.0.1:8081")
    if value.rstrip("/").endswith("/bot"):
        raise ValueError(
            "give the server's root without /bot (e.g. http://127.0.0.1:8081): "
            "the client adds /bot<token> itself"
        )
    return value


class TelegramIn(_Strict):
    enabled: Flag = True
    token_env: str = "TELEGRAM_BOT_TOKEN"
    token_file: str | None = None
    chats: list[ChatIn] = []
    allowed_user_ids: list[int] = []
    api_base_url: str | None = None
    status_minutes: float = Field(5, gt=0)
    degraded_after_seconds: float = Field(120, gt=0)

    _token_env = field_validator("token_env")(_env_name)
    _token_file = field_validator("token_file")(_file_name)

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        return None if v is None else check_api_base_url(v)

    @model_validator(mode="after")
    def _unique_chats(self) -> TelegramIn:
        ids = [c.chat_id for c in self.chats]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"telegram.chats: chat id {', '.join(map(str, dup))} is listed twice")
        return self


class HealthIn(_Strict):
    listen: str = "127.0.0.1:9108"
    enabled: Flag = True
    heartbeat_file: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        _host, port = parse_listen(v)
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535, got 0")
        return v


ModeName = Literal["off", "suggest", "auto"]


class DeriskIn(_Strict):
    """De-risking (``monitor.actions.settings`` documents each field and why its default is what it
    is). Two switches stand between the daemon and an order: a mode other than ``off`` for the
    account, and ``dry_run = false``."""

    dry_run: Flag = True
    default_mode: ModeName = "off"
    modes: dict[str, ModeName] = {}
    selection: Literal["largest_requirement", "worst_pnl"] = "largest_requirement"
    isolated_add_margin: Flag = True
    isolated_fallback: Literal["reduce", "close", "none"] = "reduce"
    max_steps: int = Field(8, ge=1, le=100)
    guard_market_move: Flag = True
    caps: dict[str, float] = {}
    targets: dict[str, float] = {}
    anomalies: dict[str, Flag | float] = {}


class ConfigIn(_Strict):
    service: ServiceIn = Field(default_factory=ServiceIn)
    accounts: Annotated[list[AccountIn], Field(min_length=1)]
    endpoints: dict[Venue, EndpointIn] = {}
    policy: PolicyIn = Field(default_factory=PolicyIn)
    telegram: TelegramIn = Field(default_factory=TelegramIn)
    health: HealthIn = Field(default_factory=HealthIn)
    derisk: DeriskIn = Field(default_factory=DeriskIn)

    @model_validator(mode="after")
    def _unique(self) -> ConfigIn:
        names = [a.name for a in self.accounts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"account names must be unique: {', '.join(dup)}")
        return self


@dataclass(frozen=True)
class Settings:
    """The validated configuration with secrets resolved (held in memory only)."""

    raw: ConfigIn
    accounts: tuple[VenueAccount, ...]
    venues: dict[Venue, tuple[VenueAccount, ...]]
    endpoints: dict[Venue, Endpoints]
    policy: PolicyConfig
    secret_sources: dict[str, str]  # account -> where its key came from (never the value)
    derisk: DeriskSettings
    telegram: TelegramSettings | None = None  # None: alerts go to the console and the log only
    telegram_decision: str = "off"  # why Telegram is on or off, in words, for check-config and the log
    # what this machine lacks; never empty for the daemon (it refuses), only with ``allow_missing``
    missing: tuple[tuple[str, str], ...] = ()


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at ``loc`` (for "did you mean"), walking the annotations."""
    current: Any = ConfigIn
    for part in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _message(error: Any) -> str:
    """A pydantic error in plain words (no regex, no type names)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        model = _model_at(tuple(error["loc"]))
        return "unknown key" + (did_you_mean(key, model.model_fields) if model else "")
    if kind in ("bool_type", "bool_parsing"):
        return "write true or false, without quotes"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "write a whole number, without quotes"
    if kind in ("float_type", "float_parsing"):
        return "write a number, without quotes"
    if kind == "missing":
        return "required, and missing"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_config(
    data: Mapping[str, Any], environ: Mapping[str, str] | None = None, *, allow_missing: bool = False
) -> Settings:
    """Validate a decoded TOML document and resolve secrets. Raises ``ConfigError``.

    ``allow_missing`` (``check-config --file-only``): what this machine lacks is returned in
    ``Settings.missing`` instead of raised, and an account without its secrets holds empty ones; such
    settings describe a file, they never run a daemon."""
    env = os.environ if environ is None else environ
    try:
        raw = ConfigIn.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise ConfigError([(_path(e["loc"]), _message(e)) for e in errors]) from None

    problems: list[tuple[str, str]] = []
    missing: list[tuple[str, str]] = []
    accounts: list[VenueAccount] = []
    sources: dict[str, str] = {}
    for i, a in enumerate(raw.accounts):
        if a.venue is Venue.HYPERLIQUID:
            accounts.append(_address_account(i, a, env, problems, missing, sources))
            continue
        if a.address is not None:
            problems.append((f"accounts[{i}].address", "only a Hyperliquid account is known by an address"))
        key, key_from = _secret(
            a.name, "API_KEY", a.api_key_env, a.api_key_file, env, f"accounts[{i}].api_key", missing
        )
        sec, sec_from = _secret(
            a.name,
            "API_SECRET",
            a.api_secret_env,
            a.api_secret_file,
            env,
            f"accounts[{i}].api_secret",
            missing,
        )
        sources[a.name] = f"key from {key_from}, secret from {sec_from}"
        phrase: str | None = ""
        if a.venue in PASSPHRASE_VENUES:
            phrase, phrase_from = _secret(
                a.name,
                "API_PASSPHRASE",
                a.api_passphrase_env,
                a.api_passphrase_file,
                env,
                f"accounts[{i}].api_passphrase",
                missing,
            )
            sources[a.name] += f", passphrase from {phrase_from}"
        if key and sec and (phrase or a.venue not in PASSPHRASE_VENUES):
            accounts.append(
                VenueAccount(
                    a.name,
                    key,
                    sec,
                    a.taker_fee,
                    phrase or "",
                    broker_id=a.broker_id,
                    mark_poll_s=a.mark_poll_seconds,
                )
            )
        elif allow_missing:
            accounts.append(VenueAccount(a.name, "", "", a.taker_fee))
    _account_names(raw, problems)
    try:
        policy = _policy(raw.policy)
    except ValueError as exc:
        problems.append(("policy", str(exc)))
        policy = PolicyConfig()
    derisk = _derisk(raw, problems)
    _paths(raw, env, missing)
    telegram, decision = _telegram(raw.telegram, env, problems, missing)
    if problems or (missing and not allow_missing):
        raise ConfigError(problems, missing)
    venues: dict[Venue, tuple[VenueAccount, ...]] = {}
    for a, acct in zip(raw.accounts, accounts, strict=True):
        venues[a.venue] = (*venues.get(a.venue, ()), acct)
    unsupported = [v for v in venues if v not in registry.VENUES]
    if unsupported:
        raise ConfigError(
            [
                (
                    "accounts",
                    f"no live adapter yet for {', '.join(v.value for v in unsupported)} "
                    "(the calculator supports it; streaming does not)",
                )
            ]
        )
    endpoints = {v: Endpoints(e.rest_url, e.ws_url) for v, e in raw.endpoints.items()}
    return Settings(
        raw, tuple(accounts), venues, endpoints, policy, sources, derisk, telegram, decision, tuple(missing)
    )


def _address_account(
    i: int,
    a: AccountIn,
    env: Mapping[str, str],
    problems: list[tuple[str, str]],
    missing: list[tuple[str, str]],
    sources: dict[str, str],
) -> VenueAccount:
    """A Hyperliquid account: its address, which is all watching needs, and an agent wallet's key
    only when one is configured (``api_secret_env`` / ``api_secret_file``): no default variable is
    looked up, so an address alone runs with no secret anywhere. An API key has no place here."""
    where = f"accounts[{i}]"
    if a.address is None:
        problems.append(
            (f"{where}.address", "required for a Hyperliquid account: the wallet address to watch (0x...)")
        )
    for key_field in ("api_key_env", "api_key_file"):
        if getattr(a, key_field) is not None:
            problems.append(
                (
                    f"{where}.{key_field}",
                    "Hyperliquid has no API key: an agent (API) wallet's private key, to act, goes in "
                    "api_secret_env or api_secret_file",
                )
            )
    secret = ""
    sources[a.name] = f"address {a.address}, watch-only (no agent key)"
    if a.api_secret_env or a.api_secret_file:
        found, found_from = _secret(
            a.name, "API_SECRET", a.api_secret_env, a.api_secret_file, env, f"{where}.api_secret", missing
        )
        secret = found or ""
        sources[a.name] = f"address {a.address}, agent key from {found_from}"
    return VenueAccount(a.name, "", secret, a.taker_fee, "", (a.address or "").lower())


def _account_names(raw: ConfigIn, problems: list[tuple[str, str]]) -> None:
    """Every table keyed by an account name must name an account (a typo would silently apply nothing)."""
    names = [a.name for a in raw.accounts]
    for where, table in (("policy.accounts", raw.policy.accounts), ("derisk.modes", raw.derisk.modes)):
        for account in table:
            if account not in names:
                problems.append(
                    (f"{where}.{account}", "no account has this name" + did_you_mean(account, names))
                )


def _paths(raw: ConfigIn, env: Mapping[str, str], missing: list[tuple[str, str]]) -> None:
    """Files the daemon creates at start-up (it creates their directories too) need a writable place:
    refused here, before anything is created, rather than as a failure (exit 1) after the health
    server is up."""
    files = (
        ("service.state_file", raw.service.state_file),
        ("health.heartbeat_file", raw.health.heartbeat_file),
    )
    for where, name in files:
        if not name or name == ":memory:":
            continue
        folder = Path(name).expanduser().absolute().parent
        existing = next((d for d in (folder, *folder.parents) if d.exists()), None)
        if existing is None:
            continue
        if not existing.is_dir():
            missing.append((where, f"{existing} is a file, so the directory {folder} cannot be created"))
        elif not os.access(existing, os.W_OK | os.X_OK):
            missing.append((where, f"no permission to create files under {existing}"))


def _telegram(
    cfg: TelegramIn, env: Mapping[str, str], problems: list[tuple[str, str]], missing: list[tuple[str, str]]
) -> tuple[TelegramSettings | None, str]:
    """The one Telegram on/off decision, made here so ``check-config`` shows what ``run`` will do.

    On with a token and at least one chat. Chats configured (in the file or ``$TELEGRAM_CHAT_ID``)
    without a token is a missing secret, not a quiet "log only": someone expects those alerts.
    """
    from monitor.notify.settings import token_from_env
    from monitor.notify.wiring import settings_from_config

    if not cfg.enabled:
        return None, "off ([telegram] enabled = false)"
    if cfg.token_file:
        unset = unset_variables(cfg.token_file, env)
        if unset:
            missing.append(("telegram.token_file", unset_message(unset)))
            return None, "off (its token file cannot be found)"
        cfg = cfg.model_copy(update={"token_file": expand(cfg.token_file, env)})
    chat_env = env.get("TELEGRAM_CHAT_ID", "").strip()
    base_env = env.get("TELEGRAM_API_BASE_URL", "").strip()
    if base_env:
        try:
            check_api_base_url(base_env)
        except ValueError as exc:
            problems.append(("$TELEGRAM_API_BASE_URL", str(exc)))
            return None, "off (bad $TELEGRAM_API_BASE_URL)"
    rewritten = dict(env)
    if cfg.token_env != "TELEGRAM_BOT_TOKEN" and env.get(cfg.token_env):
        rewritten["TELEGRAM_BOT_TOKEN"] = env[cfg.token_env]
    if cfg.token_file and not rewritten.get("TELEGRAM_BOT_TOKEN"):
        rewritten.setdefault("TELEGRAM_BOT_TOKEN_FILE", cfg.token_file)
    try:
        token = token_from_env(rewritten)
    except TelegramSettingsError as exc:
        missing.append(("telegram.token_file", str(exc)))
        return None, "off (its token file cannot be read)"
    if not cfg.chats and not chat_env:
        if token:
            return None, "off (a bot token but no chat: add [[telegram.chats]] or set $TELEGRAM_CHAT_ID)"
        return None, "off (no bot token and no chat configured)"
    if not token:
        where = f"file {cfg.token_file}" if cfg.token_file else f"${cfg.token_env}"
        missing.append(
            (
                "telegram.token_env",
                f"a chat is configured but there is no bot token ({where} is not set); "
                "set it, or write enabled = false under [telegram]",
            )
        )
        return None, "off (no bot token)"
    try:
        settings = settings_from_config(cfg, env)
    except TelegramSettingsError as exc:
        key = "$TELEGRAM_CHAT_ID" if "TELEGRAM_CHAT_ID" in str(exc) else "telegram.token_env"
        problems.append((key, _plain_token_error(str(exc))))
        return None, "off (bad settings)"
    if settings is None:  # unreachable after the checks above; kept so a change there cannot turn it on
        return None, "off"
    chats = "the chat from $TELEGRAM_CHAT_ID" if not cfg.chats else f"{len(settings.chats)} chat(s)"
    source = (
        f"file {cfg.token_file}" if cfg.token_file and not env.get(cfg.token_env) else f"${cfg.token_env}"
    )
    return settings, f"on ({chats}, token from {source}, Bot API {settings.api_base_url})"


def _plain_token_error(message: str) -> str:
    if "token is malformed" in message:
        return (
            "the bot token is malformed: @BotFather gives it as digits, a colon and about 35 letters, "
            "digits, '_' or '-' (the token is not repeated here)"
        )
    return message


def default_secret_env(account: str, what: str) -> str:
    """The variable an account's secret comes from when the file names none: ``MONITOR_MAIN_API_KEY``
    for ``what`` = ``API_KEY`` of account ``main`` (other characters than letters and digits become
    ``_``)."""
    return f"MONITOR_{re.sub(r'[^A-Za-z0-9]', '_', account).upper()}_{what}"


def _secret(
    account: str,
    what: str,
    env_name: str | None,
    file_name: str | None,
    env: Mapping[str, str],
    where: str,
    problems: list[tuple[str, str]],
) -> tuple[str | None, str]:
    if file_name:
        unset = unset_variables(file_name, env)
        if unset:
            problems.append((f"{where}_file", unset_message(unset)))
            return None, f"file {file_name}"
        path = Path(expand(file_name, env))
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append((f"{where}_file", f"cannot read {path}: {exc.strerror}"))
            return None, f"file {path}"
        if not value:
            problems.append((f"{where}_file", f"{path} is empty"))
        return value or None, f"file {path}"
    name = env_name or default_secret_env(account, what)
    value = env.get(name, "").strip()
    if not value:
        problems.append((f"{where}_env", f"environment variable {name} is not set"))
    return value or None, f"${name}"


def _policy(p: PolicyIn) -> PolicyConfig:
    base = p.levels.override().apply(LevelThresholds())
    minutes = 60_000
    return PolicyConfig(
        levels=base,
        accounts={k: v.override() for k, v in p.accounts.items()},
        symbols={k: v.override() for k, v in p.symbols.items()},
        repeat=RepeatSchedule(
            int(p.repeat.warn_minutes * minutes),
            int(p.repeat.danger_minutes * minutes),
            int(p.repeat.critical_minutes * minutes),
        ),
        staleness=StalenessConfig(
            marks_ms=int(p.staleness.marks_seconds * 1000),
            user_ms=int(p.staleness.user_seconds * 1000),
            symbol_mark_ms=int(p.staleness.symbol_mark_seconds * 1000),
            level=Level[p.staleness.level.upper()],
        ),
        deviation=DeviationConfig(tolerance_pct=p.deviation.tolerance_pct, band_pct=p.deviation.band_pct),
        announce_initial_positions=p.announce_initial_positions,
        cross_positions_use_account_ratio=p.cross_positions_use_account_ratio,
    )


def _derisk(raw: ConfigIn, problems: list[tuple[str, str]]) -> DeriskSettings:
    d = raw.derisk
    parts: dict[str, Any] = {}
    for section, cls in (("caps", Caps), ("targets", Targets), ("anomalies", Anomalies)):
        table = getattr(d, section)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            for key in unknown:
                problems.append((f"derisk.{section}.{key}", "unknown key" + did_you_mean(key, known)))
            table = {k: v for k, v in table.items() if k in known}
        parts[section] = cls(**table)
    try:
        return DeriskSettings(
            modes=dict(d.modes),  # type: ignore[arg-type]  # the strings are coerced on construction
            default_mode=d.default_mode,  # type: ignore[arg-type]
            dry_run=d.dry_run,
            selection=d.selection,  # type: ignore[arg-type]
            isolated_add_margin=d.isolated_add_margin,
            isolated_fallback=d.isolated_fallback,  # type: ignore[arg-type]
            max_steps=d.max_steps,
            guard_market_move=d.guard_market_move,
            **parts,
        )
    except SettingsError as exc:
        problems.append((f"derisk.{exc.key}", exc.reason))
        return DeriskSettings()


def load_config(
    path: str | Path, environ: Mapping[str, str] | None = None, *, allow_missing: bool = False
) -> Settings:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {p}: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(syntax)", str(exc))]) from None
    return parse_config(data, environ, allow_missing=allow_missing)
