"""Configuration from the environment, with an optional chonai.toml beside it.

Environment variables win over the file; the file uses the same names in lower case
(`database_url = "..."`) so one table in README describes both.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./data"
    database_url: str = ""  # empty: SQLite in data_dir
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    tz: str = "Asia/Tokyo"
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = ""
    openai_api_key: str = ""
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = 30.0
    pii_key: str = ""  # key for audit hashes of PII findings; empty: no hash is stored
    pii_allow: str = ""  # comma-separated public numbers/names never flagged
    draft_role: str = ""  # empty: everyone may use /draft
    status_secret: str = ""
    webhook_secret: str = ""
    webhook_outbound_url: str = ""
    kpi_channel: str = ""
    kpi_cron: str = "0 9 * * mon"
    instance: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # every other CHONAI_* setting

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret and self.slack_bot_token) or bool(
            self.slack_app_token and self.slack_bot_token)

    @property
    def ai_enabled(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)

    def get(self, name: str, default: str = "") -> str:
        return self.extra.get(name.lower(), default)


# Setting name -> environment variable, where it is not CHONAI_<NAME>.
_ENV_NAMES = {
    "database_url": "DATABASE_URL", "redis_url": "REDIS_URL",
    "slack_bot_token": "SLACK_BOT_TOKEN", "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN", "slack_api_url": "SLACK_API_URL",
    "openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL",
    "openai_model": "OPENAI_MODEL",
}


def load(environ: dict[str, str] | None = None, path: str | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    file_values: dict[str, Any] = {}
    toml_path = Path(path) if path else config_path(env)
    if toml_path.is_file():
        with toml_path.open("rb") as handle:
            file_values = {k.lower(): v for k, v in tomllib.load(handle).items()}
    values: dict[str, Any] = {}
    names = {f.name: f for f in fields(Settings) if f.name != "extra"}
    for name, spec in names.items():
        env_name = _ENV_NAMES.get(name, f"CHONAI_{name.upper()}")
        raw = env.get(env_name, file_values.get(name, file_values.get(env_name.lower())))
        if raw is None or raw == "":
            continue
        if spec.type in ("int", int):
            values[name] = int(raw)
        elif spec.type in ("float", float):
            values[name] = float(raw)
        else:
            values[name] = str(raw)
    extra = {k: str(v) for k, v in file_values.items() if k not in names}
    extra.update({k.lower(): v for k, v in env.items()
                  if k.startswith(("CHONAI_", "LINEWORKS_"))})
    values["extra"] = extra
    return Settings(**values)


def database_url(settings: Settings) -> str:
    from store.db import sqlite_url

    return settings.database_url or sqlite_url(settings.data_dir)


def _bool_setting(settings: Settings, name: str, default: bool = False) -> bool:
    raw = settings.get(name)
    return _bool(raw) if raw else default


flag = _bool_setting


def secret_file(settings: Settings, name: str) -> bytes:
    """A random secret made once in the data dir (readable by this user only)."""
    import os
    import secrets

    path = Path(settings.data_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


_LINEWORKS_REQUIRED = ("LINEWORKS_BOT_ID", "LINEWORKS_BOT_SECRET", "LINEWORKS_CLIENT_ID",
                       "LINEWORKS_CLIENT_SECRET", "LINEWORKS_SERVICE_ACCOUNT",
                       "LINEWORKS_PRIVATE_KEY")


def start_problems(settings: Settings) -> list[str]:
    """What stops `chonai run` before it starts: a platform configured only in part (it
    would start and then fail every reply). One Japanese line each, naming the setting."""
    problems: list[str] = []
    given = [name for name in _LINEWORKS_REQUIRED if settings.get(name.lower())]
    if given:
        for name in _LINEWORKS_REQUIRED:
            if not settings.get(name.lower()):
                problems.append(f"LINE WORKS の設定が足りません: {name} を設定してください。")
        key = settings.get("lineworks_private_key")
        if key and not Path(key).is_file():
            problems.append(f"LINE WORKS の秘密鍵ファイルがありません: LINEWORKS_PRIVATE_KEY={key}")
    if settings.slack_bot_token and not (settings.slack_signing_secret or settings.slack_app_token):
        problems.append("Slack の設定が足りません: SLACK_SIGNING_SECRET（HTTP モード）か "
                        "SLACK_APP_TOKEN（Socket Mode）を設定してください。")
    if (settings.slack_signing_secret or settings.slack_app_token) and not settings.slack_bot_token:
        problems.append("Slack の設定が足りません: SLACK_BOT_TOKEN を設定してください。")
    if settings.webhook_secret and not settings.webhook_outbound_url:
        problems.append("中継 Webhook の設定が足りません: CHONAI_WEBHOOK_OUTBOUND_URL を設定してください。")
    from handlers import destinations

    problems.extend(destinations.problems(settings))
    from bot import anchoring
    from store.anchors import AnchorError

    try:
        anchoring.paths(settings)
        if settings.get("chonai_anchor_room"):
            destinations.resolve(settings, "CHONAI_ANCHOR_ROOM", settings.get("chonai_anchor_room"))
    except (AnchorError, destinations.DestinationError) as exc:
        problems.append(str(exc))
    return problems


def config_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CHONAI_CONFIG", "chonai.toml"))
