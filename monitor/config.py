"""Configuration: a TOML file validated with pydantic, secrets from the environment or from files.

The file holds no secret. An account names where its key and secret come from (``api_key_env`` /
``api_key_file``, defaulting to ``MONITOR_<ACCOUNT>_API_KEY`` / ``..._API_SECRET``); a file path may use
``$CREDENTIALS_DIRECTORY`` so systemd's ``LoadCredential=`` works unchanged. A secret written into the
TOML itself is refused with the key path, because config files end up in backups and repositories.

Every problem is reported at once with its key path (``accounts[1].venue``) and a reason; the daemon
refuses to start on any of them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.actions.settings import Anomalies, Caps, DeriskSettings, SettingsError, Targets
from monitor.alerts import Level
from monitor.model import Venue
from monitor.policy.config import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    RepeatSchedule,
    StalenessConfig,
    ThresholdOverride,
)
from monitor.venues.base import Endpoints, VenueAccount

_SECRET_KEYS = {"api_key", "apikey", "secret", "api_secret", "password", "passphrase", "token", "bot_token"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class ConfigError(ValueError):
    """Every problem found, each as ``(key_path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


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
    announce_initial_positions: bool = False
    # a cross position shares the account's ratio: judging each by it would repeat the account's alert
    # once per position; off, positions are judged by their own distance and the account by its ratio
    cross_positions_use_account_ratio: bool = False


class AccountIn(_Strict):
    name: str
    venue: Venue
    api_key_env: str | None = None
    api_key_file: str | None = None
    api_secret_env: str | None = None
    api_secret_file: str | None = None
    taker_fee: float = Field(0.0005, ge=0, lt=0.01)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use 1-40 letters, digits, '_', '-' or '.'")
        return v


class EndpointIn(_Strict):
    rest_url: str = Field(pattern=r"^https?://")
    ws_url: str = Field(pattern=r"^wss?://")


class ServiceIn(_Strict):
    state_file: str = "monitor-state.sqlite3"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    resync_seconds: float = Field(45, ge=5, le=3600)
    tiers_refresh_hours: float = Field(24, gt=0, le=168)
    stale_exit_seconds: float = Field(0, ge=0)


class ChatIn(_Strict):
    chat_id: int
    min_level: LevelName = "warn"
    quiet_hours: str | None = Field(None, pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")


class TelegramIn(_Strict):
    enabled: bool = True
    token_env: str = "TELEGRAM_BOT_TOKEN"
    token_file: str | None = None
    chats: list[ChatIn] = []
    allowed_user_ids: list[int] = []
    api_base_url: str | None = None
    status_minutes: float = Field(5, gt=0)
    degraded_after_seconds: float = Field(120, gt=0)


class HealthIn(_Strict):
    listen: str = Field("127.0.0.1:9108", pattern=r"^[^:]+:\d{1,5}$")
    enabled: bool = True
    heartbeat_file: str | None = None


ModeName = Literal["off", "suggest", "auto"]


class DeriskIn(_Strict):
    """De-risking (``monitor.actions.settings`` documents each field and why its default is what it
    is). Two switches stand between the daemon and an order: a mode other than ``off`` for the
    account, and ``dry_run = false``."""

    dry_run: bool = True
    default_mode: ModeName = "off"
    modes: dict[str, ModeName] = {}
    selection: Literal["largest_requirement", "worst_pnl"] = "largest_requirement"
    isolated_add_margin: bool = True
    isolated_fallback: Literal["reduce", "close", "none"] = "reduce"
    max_steps: int = Field(8, ge=1, le=100)
    guard_market_move: bool = True
    caps: dict[str, float] = {}
    targets: dict[str, float] = {}
    anomalies: dict[str, float | bool] = {}


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


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Validate a decoded TOML document and resolve secrets. Raises ``ConfigError``."""
    env = os.environ if environ is None else environ
    try:
        raw = ConfigIn.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise ConfigError(
            [(_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in errors]
        ) from None

    problems: list[tuple[str, str]] = []
    accounts: list[VenueAccount] = []
    sources: dict[str, str] = {}
    for i, a in enumerate(raw.accounts):
        key, key_from = _secret(
            a.name, "API_KEY", a.api_key_env, a.api_key_file, env, f"accounts[{i}].api_key", problems
        )
        sec, sec_from = _secret(
            a.name,
            "API_SECRET",
            a.api_secret_env,
            a.api_secret_file,
            env,
            f"accounts[{i}].api_secret",
            problems,
        )
        sources[a.name] = f"key from {key_from}, secret from {sec_from}"
        if key and sec:
            accounts.append(VenueAccount(a.name, key, sec, a.taker_fee))
    try:
        policy = _policy(raw.policy)
    except ValueError as exc:
        problems.append(("policy", str(exc)))
        policy = PolicyConfig()
    derisk = _derisk(raw, problems)
    if problems:
        raise ConfigError(problems)
    venues: dict[Venue, tuple[VenueAccount, ...]] = {}
    for a, acct in zip(raw.accounts, accounts, strict=True):
        venues[a.venue] = (*venues.get(a.venue, ()), acct)
    unsupported = [v for v in venues if v not in (Venue.BINANCE_USDM, Venue.BINANCE_COINM)]
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
    return Settings(raw, tuple(accounts), venues, endpoints, policy, sources, derisk)


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
        path = Path(_expand(file_name, env))
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append((f"{where}_file", f"cannot read {path}: {exc.strerror}"))
            return None, f"file {path}"
        if not value:
            problems.append((f"{where}_file", f"{path} is empty"))
        return value or None, f"file {path}"
    name = env_name or f"MONITOR_{re.sub(r'[^A-Za-z0-9]', '_', account).upper()}_{what}"
    value = env.get(name, "").strip()
    if not value:
        problems.append((f"{where}_env", f"environment variable {name} is not set"))
    return value or None, f"${name}"


def _expand(path: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), m.group(0)), path)


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
    names = {a.name for a in raw.accounts}
    for account in d.modes:
        if account not in names:
            problems.append((f"derisk.modes.{account}", "no account has this name"))
    parts: dict[str, Any] = {}
    for section, cls in (("caps", Caps), ("targets", Targets), ("anomalies", Anomalies)):
        table = getattr(d, section)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            problems.append(
                (
                    f"derisk.{section}",
                    f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                )
            )
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


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {p}: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(syntax)", str(exc))]) from None
    return parse_config(data, environ)
