"""An audit trail against someone who can write the database: signed anchors outside it catch a
deleted newest event and a recomputed chain, verify --read-models catches an edited read model,
and a backup taken under load restores to a log that verifies and keeps every acknowledged event."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from store.events import GENESIS, chain_digest
from tests.bot_process import BotProcess

STAFF = ("user_id,name,department,roles\nhq01,本部 一郎,危機管理課,broadcaster\n"
         + "".join(f"s{i:03d},職員{i},課{i % 3},\n" for i in range(40)))


def chonai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture
def audited(tmp_path):
    """A data directory with events in it, and anchors kept outside it."""
    env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "data"),
           "CHONAI_ANCHOR_DIR": str(tmp_path / "audit" / "anchors"),
           "CHONAI_ANCHOR_KEY": str(tmp_path / "audit" / "anchor.key")}
    env.pop("DATABASE_URL", None)
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    for _ in range(3):  # three imports: three events (the same file each time)
        assert chonai("staff", "import", str(tmp_path / "staff.csv"), env=env).returncode == 0
    made = chonai("anchor", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["position"] >= 3
    return env, tmp_path / "data" / "chonai.db"


def _recompute_chain(db: Path) -> None:
    """What a database administrator can do: rewrite digests after an edit, and the head."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT position, stream_id, stream_version, type, schema_version, "
                            "payload, actor, platform, correlation_id, causation_id, occurred_at, "
                            "idempotency_key FROM events ORDER BY position").fetchall()
        previous = GENESIS
        for row in rows:
            previous = chain_digest(previous, row)
            conn.execute("UPDATE events SET digest = ? WHERE position = ?", (previous, row[0]))
        conn.execute("UPDATE chain_head SET position = ?, digest = ?", (rows[-1][0], previous))


def test_a_deleted_newest_event_with_the_head_set_back_is_caught(audited):
    env, db = audited
    assert chonai("verify", env=env).returncode == 0
    with sqlite3.connect(db) as conn:
        newest, = conn.execute("SELECT max(position) FROM events").fetchone()
        conn.execute("DELETE FROM events WHERE position = ?", (newest,))
        conn.execute("UPDATE chain_head SET position = ?, digest = (SELECT digest FROM events "
                     "WHERE position = ?)", (newest - 1, newest - 1))
    unanchored = {k: v for k, v in env.items() if not k.startswith("CHONAI_ANCHOR")}
    blind = chonai("verify", env=unanchored)
    assert blind.returncode == 0 and "検出できません" in blind.stdout  # says what it cannot see
    caught = chonai("verify", env=env)
    assert caught.returncode == 1 and f"first bad position {newest}" in caught.stderr


def test_a_rewritten_event_with_a_recomputed_chain_is_caught(audited):
    env, db = audited
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET payload = replace(payload, '本部 一郎', '別人') "
                     "WHERE position = 2")
    _recompute_chain(db)
    unanchored = {k: v for k, v in env.items() if not k.startswith("CHONAI_ANCHOR")}
    assert chonai("verify", env=unanchored).returncode == 0  # the chain alone is fooled
    caught = chonai("verify", env=env)
    assert caught.returncode == 1 and "ダイジェストがアンカー" in caught.stderr
    assert "first bad position" in caught.stderr


def test_an_edited_read_model_is_caught(audited):
    env, db = audited
    assert chonai("verify", "--read-models", env=env).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE staff SET roles = 'broadcaster' WHERE user_id = 's001'")
    caught = chonai("verify", "--read-models", env=env)
    assert caught.returncode == 1 and "staff" in caught.stderr and "s001" in caught.stderr


def test_anchors_verify_with_the_public_key_alone(audited, tmp_path):
    env, db = audited
    public = chonai("anchor", "--public-key", env=env).stdout.strip()
    anchors_dir = Path(env["CHONAI_ANCHOR_DIR"])
    # The auditor has the anchors and the public key, not the private key.
    auditor = {**env, "CHONAI_ANCHOR_KEY": str(tmp_path / "audit" / "not-here.key")}
    assert chonai("verify", "--public-key", public, env=auditor).returncode == 0
    # A forged anchor (signed by another key) is refused.
    from store import anchors

    forged_key = anchors.load_key(tmp_path / "forger.key")
    anchors.append(anchors_dir, forged_key, "head", 1, "0" * 64)
    forged = chonai("verify", "--public-key", public, env=auditor)
    assert forged.returncode == 1 and "信頼する公開鍵" in forged.stderr


def test_anchor_settings_inside_the_data_directory_stop_the_start(tmp_path):
    from bot.config import Settings, start_problems

    settings = Settings(data_dir=str(tmp_path / "d"), extra={
        "chonai_anchor_dir": str(tmp_path / "d" / "anchors"), "chonai_anchor_key": str(tmp_path / "k")})
    [problem] = start_problems(settings)
    assert "CHONAI_ANCHOR_DIR" in problem


def test_restore_refuses_a_non_empty_directory_and_needs_the_passphrase(audited, tmp_path):
    env, db = audited
    backup = tmp_path / "backup.chonai"
    assert chonai("backup", str(backup), env=env).returncode == 0
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    busy = chonai("restore", str(backup), env=env)  # into the live, non-empty directory
    assert busy.returncode == 1 and "空ではありません" in busy.stderr
    secret = {**env, "CHONAI_BACKUP_PASSPHRASE": "合言葉-2026"}
    sealed_backup = tmp_path / "sealed.chonai"
    assert chonai("backup", str(sealed_backup), env=secret).returncode == 0
    assert b"chonai.db" not in sealed_backup.read_bytes()  # encrypted as a whole
    elsewhere = {**secret, "CHONAI_DATA_DIR": str(tmp_path / "restored")}
    wrong = chonai("restore", str(sealed_backup), env={**elsewhere, "CHONAI_BACKUP_PASSPHRASE": "x"})
    assert wrong.returncode == 1 and "合言葉" in wrong.stderr
    done = chonai("restore", str(sealed_backup), env=elsewhere)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ok:" in done.stdout


async def test_a_backup_under_load_restores_every_acknowledged_event(tmp_path):
    """The restore drill: a broadcast is out and answers arrive while the backup is taken."""
    audit_dir = tmp_path / "audit"
    env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "data"), "CHONAI_PII_KEY": "k",
           "CHONAI_ANCHOR_DIR": str(audit_dir / "anchors"),
           "CHONAI_ANCHOR_KEY": str(audit_dir / "anchor.key")}
    env.pop("DATABASE_URL", None)
    (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert chonai("staff", "import", str(tmp_path / "staff.csv"), env=env).returncode == 0
    bot = BotProcess(env, tmp_path / "bot.log")
    await bot.start()
    acknowledged_before: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            async def post(path: str, body: dict) -> tuple[int, dict]:
                async with session.post(bot.url + path, json=body) as resp:
                    return resp.status, await resp.json()

            await post("/api/rooms/hq/messages", {"user": "hq01", "text": "/broadcast 安否 訓練です"})
            preview = await _wait_message(session, bot.url, "hq", "hq01", "送信前の確認")
            await post("/api/rooms/hq/actions", {"user": "hq01", "message_id": preview["id"],
                                                 "action_id": "broadcast.send",
                                                 "value": preview["buttons"][0]["value"]})
            notices = [await _wait_message(session, bot.url, f"dm:s{i:03d}", f"s{i:03d}", "訓練です")
                       for i in range(40)]
            backup_started = asyncio.Event()

            async def click(i: int, notice: dict) -> None:
                client_id = f"click-{i}"
                status, _ = await post(f"/api/rooms/dm:s{i:03d}/actions", {
                    "user": f"s{i:03d}", "message_id": notice["id"], "action_id": "broadcast.answer",
                    "value": next(b["value"] for b in notice["buttons"] if b["label"] == "無事"),
                    "client_id": client_id})
                if status == 202 and not backup_started.is_set():
                    acknowledged_before.append(client_id)

            clicks = [asyncio.create_task(click(i, n)) for i, n in enumerate(notices)]
            deadline = asyncio.get_running_loop().time() + 30
            while len(acknowledged_before) < 5 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # some answers are in; the rest arrive during the backup
            backup_started.set()
            done = await asyncio.to_thread(chonai, "backup", str(tmp_path / "drill.chonai"), env=env)
            await asyncio.gather(*clicks)
            assert done.returncode == 0, done.stderr
    finally:
        bot.stop()
    restored = {**env, "CHONAI_DATA_DIR": str(tmp_path / "restored")}
    result = chonai("restore", str(tmp_path / "drill.chonai"), env=restored)
    assert result.returncode == 0, result.stderr + result.stdout
    with sqlite3.connect(tmp_path / "restored" / "chonai.db") as conn:
        keys = {row[0] for row in conn.execute("SELECT idempotency_key FROM events")}
    assert acknowledged_before, "no click was acknowledged before the backup started"
    assert all(f"in:local:{c}" in keys for c in acknowledged_before)
    # Later anchors of the live log (its shutdown anchor) are behind the restore point.
    assert chonai("verify", env=restored).returncode == 0


async def _wait_message(session, url: str, room: str, user: str, needle: str, timeout: float = 30):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with session.get(f"{url}/api/rooms/{room}/messages", params={"user": user}) as resp:
            for message in (await resp.json())["messages"]:
                if message["user"] == "chonai" and needle in message["text"] and message["buttons"]:
                    return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message with {needle!r} in {room}")


def test_the_systemd_unit_is_well_formed():
    import shutil

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = Path(__file__).resolve().parents[1] / "deploy" / "chonai.service"
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # The only complaint allowed is that the program is not installed on this machine.
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "is not executable" not in line and "No such file" not in line]
    assert problems == []


def test_an_anchor_also_goes_to_syslog(tmp_path):
    """A copy the database administrator does not hold: each anchor is sent to syslog."""
    import socket

    from bot import anchoring
    from bot.config import Settings
    from store.db import make_engine
    from store.events import EventStore
    from store.migrate import upgrade

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = receiver.getsockname()[1]
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    settings = Settings(data_dir=str(tmp_path / "data"), extra={
        "chonai_anchor_dir": str(tmp_path / "anchors"), "chonai_anchor_key": str(tmp_path / "k.pem"),
        "chonai_anchor_syslog": f"127.0.0.1:{port}"})
    anchoring._syslog = None
    try:
        anchor = anchoring.sign_head(settings, EventStore(engine))
        datagram = receiver.recv(65536).decode()
    finally:
        receiver.close()
        anchoring._syslog = None
    assert "chonai-anchor" in datagram and anchor["sig"] in datagram


def test_a_postgresql_backup_restores_with_pg_dump(tmp_path, pg_url):
    """On PostgreSQL the backup is pg_dump's custom format (said so), restored by pg_restore."""
    import shutil

    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("pg_dump and pg_restore must be installed in CI")
        pytest.skip("pg_dump/pg_restore are not installed here")
    import uuid

    import psycopg

    from tests.conftest import PG_ADMIN

    second = f"chonai_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{second}"')
    target_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + second
    try:
        env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "d1"), "DATABASE_URL": pg_url,
               "CHONAI_ANCHOR_DIR": str(tmp_path / "anchors"),
               "CHONAI_ANCHOR_KEY": str(tmp_path / "anchor.key")}
        (tmp_path / "staff.csv").write_text(STAFF, encoding="utf-8")
        assert chonai("staff", "import", str(tmp_path / "staff.csv"), env=env).returncode == 0
        assert chonai("anchor", env=env).returncode == 0
        made = chonai("backup", str(tmp_path / "pg.chonai"), env=env)
        assert made.returncode == 0 and "pg_dump" in made.stderr
        restored = chonai("restore", str(tmp_path / "pg.chonai"),
                          env={**env, "CHONAI_DATA_DIR": str(tmp_path / "d2"), "DATABASE_URL": target_url})
        assert restored.returncode == 0, restored.stderr + restored.stdout
        assert "署名アンカー" in restored.stdout
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{second}" WITH (FORCE)')


def test_pg_dump_gets_the_password_by_environment_not_on_its_command_line():
    from bot.audit import _libpq

    url, env = _libpq("postgresql+psycopg://chonai:s3cr%65t@db.internal:5433/chonai")
    assert url == "postgresql://chonai@db.internal:5433/chonai" and env["PGPASSWORD"] == "s3cret"
