"""`chonai verify`, `chonai anchor`, `chonai backup` and `chonai restore`: what an auditor and
an operator run. Verify checks the hash chain, then every signed anchor outside the database,
and with --read-models rebuilds the read models from the log and compares them.

A backup is one file: a tar of the database copy (SQLite's online backup API, or `pg_dump
-Fc` on PostgreSQL), the anchors, and a manifest (time, position, digest). When the copy holds
sealing keys (positions, application statuses) the file is encrypted (AES-GCM, key from the
passphrase in CHONAI_BACKUP_PASSPHRASE by scrypt) and a passphrase is required."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import anchoring
from bot.config import Settings
from store import anchors

MAGIC = b"CHONAI-BACKUP-1\n"
ENCRYPTED = b"CHONAI-BACKUP-ENC-1\n"


def say(text: str) -> None:
    print(text, file=sys.stderr)


# -- verify -------------------------------------------------------------------------------------
def verify(settings: Settings, engine, *, read_models: bool, public_key: str | None) -> int:  # noqa: ANN001
    from store.verify import digests_at
    from store.verify import verify as verify_chain

    verdict = verify_chain(engine)
    if not verdict.ok:
        say(f"TAMPERED: first bad position {verdict.bad_position} ({verdict.reason}); "
            f"{verdict.checked} events before it are intact")
        return 1
    print(f"ok: {verdict.checked} events, chain intact")
    configured = anchoring.paths(settings)
    directory = configured[0] if configured else None
    if directory is None and not public_key:
        print("注意: 署名アンカー（CHONAI_ANCHOR_DIR / CHONAI_ANCHOR_KEY）が設定されていないため、"
              "ハッシュチェーンを計算し直した書き換えや、最新のイベントの削除（とチェーンの先頭の書き戻し）は"
              "検出できません。検出できるのは、チェーンを直さずに編集・削除・並べ替えたイベントだけです。")
    else:
        trusted = public_key
        if trusted is None and configured is not None and configured[1].exists():
            trusted = anchors.public_key_text(anchors.load_key(configured[1], create=False))
        found = anchors.read(directory) if directory else []
        digests = digests_at(engine, [a.get("position", 0) for a in found if isinstance(a.get("position"), int)])
        result = anchors.check(found, trusted, digests.get, verdict.checked)
        if not result.ok:
            for problem in result.problems:
                say(f"TAMPERED: {problem}")
            if result.bad_position is not None:
                say(f"TAMPERED: first bad position {result.bad_position}")
            return 1
        print(f"ok: 署名アンカー {result.checked} 件と一致しています"
              + (f"（復元 {result.restores} 回、復元で失われた署名済みイベント {result.lost_events} 件）"
                 if result.restores else ""))
        if not found:
            print("注意: アンカーがまだありません（chonai run が 1 分ごとに、chonai anchor で今すぐ作ります）。")
    if read_models:
        from bot.runtime import projections_for
        from handlers.registry import build_registry
        from store.verify import compare_read_models

        difference = compare_read_models(engine, projections_for(build_registry()))
        if difference:
            say(f"TAMPERED: {difference}")
            return 1
        print("ok: 読み取りモデルはログから作り直したものと一致しています")
    return 0


# -- anchor ------------------------------------------------------------------------------------
def anchor(settings: Settings, engine, *, show_public_key: bool, rotate: bool) -> int:  # noqa: ANN001
    from store.events import EventStore

    try:
        configured = anchoring.paths(settings)
    except anchors.AnchorError as exc:
        say(str(exc))
        return 1
    if configured is None:
        say("CHONAI_ANCHOR_DIR と CHONAI_ANCHOR_KEY を設定してください（どちらもデータディレクトリの外）。")
        return 1
    directory, key_path = configured
    key = anchors.load_key(key_path)
    if show_public_key:
        print(anchors.public_key_text(key))
        return 0
    store = EventStore(engine)
    if rotate:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        new_key = Ed25519PrivateKey.generate()
        position, digest = store.head()
        anchors.append(directory, key, "rotate", position, digest,
                       next_key=anchors.public_key_text(new_key))
        retired = key_path.with_name(key_path.name + f".retired-{datetime.now(UTC):%Y%m%d%H%M%S}")
        os.replace(key_path, retired)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        _record(engine, "audit.key_rotated", {"kind": "anchor", "public_key": anchors.public_key_text(new_key)})
        print(f"署名鍵を更新しました。新しい公開鍵: {anchors.public_key_text(new_key)}"
              f"（古い鍵は {retired}）")
        return 0
    made = anchoring.sign_head(settings, store)
    print(json.dumps(made, ensure_ascii=False))
    return 0


def _record(engine, type_: str, payload: dict[str, Any]) -> None:  # noqa: ANN001
    """Backup, restore and key rotation are events too."""
    import asyncio

    from store.events import EventStore, NewEvent

    async def append() -> None:
        store = EventStore(engine)
        await store.start()
        try:
            await store.append(NewEvent(type_, "audit", payload, actor="cli", platform="cli"))
        finally:
            await store.stop()

    asyncio.run(append())


# -- backup ------------------------------------------------------------------------------------
def _has_sealing_keys(engine) -> bool:  # noqa: ANN001
    from sqlalchemy import func, select

    from store.sealed import keys

    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(keys)).scalar())


def _encrypt(data: bytes, passphrase: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    return ENCRYPTED + salt + nonce + AESGCM(key).encrypt(nonce, data, ENCRYPTED)


def _decrypt(blob: bytes, passphrase: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    body = blob[len(ENCRYPTED):]
    salt, nonce, data = body[:16], body[16:28], body[28:]
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    try:
        return AESGCM(key).decrypt(nonce, data, ENCRYPTED)
    except InvalidTag:
        raise ValueError("合言葉（CHONAI_BACKUP_PASSPHRASE）が違うか、ファイルが壊れています。") from None


def backup(settings: Settings, engine, target: str) -> int:  # noqa: ANN001
    from store.events import EventStore

    passphrase = settings.get("chonai_backup_passphrase")
    if _has_sealing_keys(engine) and not passphrase:
        say("このデータには封印鍵（位置情報など）が含まれるため、暗号化が必要です。"
            "CHONAI_BACKUP_PASSPHRASE に合言葉を設定してから実行してください。")
        return 1
    position, digest = EventStore(engine).head()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        if settings.database_url:
            dump = work_dir / "database.pgdump"
            pg_dump = shutil.which("pg_dump")
            if pg_dump is None:
                say("pg_dump が見つかりません（PostgreSQL のクライアントを、サーバーと同じメジャー版で入れてください）。")
                return 1
            say("PostgreSQL: pg_dump（カスタム形式）でコピーします。")
            url, env = _libpq(settings.database_url)
            done = subprocess.run([pg_dump, "-Fc", "-f", str(dump), url], env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                say(f"pg_dump が失敗しました: {done.stderr.strip()[-300:]}")
                return 1
        else:
            dump = work_dir / "chonai.db"
            source = sqlite3.connect(Path(settings.data_dir) / "chonai.db")
            copy = sqlite3.connect(dump)
            with copy:
                source.backup(copy)  # a consistent snapshot while the bot keeps writing
            source.close()
            copy.close()
        manifest = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "position": position,
                    "digest": digest, "database": "postgresql" if settings.database_url else "sqlite",
                    "encrypted": bool(passphrase)}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(dump, arcname=dump.name)
            configured = anchoring.paths(settings)
            if configured and (configured[0] / anchors.FILE).exists():
                tar.add(configured[0] / anchors.FILE, arcname=anchors.FILE)
            data = json.dumps(manifest, ensure_ascii=False).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    payload = MAGIC + buffer.getvalue()
    if passphrase:
        payload = _encrypt(payload, passphrase)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    _record(engine, "audit.backup_made", {"position": position, "time": manifest["time"],
                                          "encrypted": bool(passphrase)})
    print(f"バックアップを作りました: {target}（位置 {position} まで、"
          f"{'暗号化済み' if passphrase else '暗号化なし'}）")
    return 0


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore without its password, which goes in PGPASSWORD instead:
    a command line is visible to every local account (ps)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    url = url.replace("postgresql+psycopg://", "postgresql://").replace("postgres://", "postgresql://")
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


# -- restore -----------------------------------------------------------------------------------
def restore(settings: Settings, source: str) -> int:
    blob = Path(source).read_bytes()
    if blob.startswith(ENCRYPTED):
        passphrase = settings.get("chonai_backup_passphrase")
        if not passphrase:
            say("暗号化されたバックアップです。CHONAI_BACKUP_PASSPHRASE に合言葉を設定してください。")
            return 1
        try:
            blob = _decrypt(blob, passphrase)
        except ValueError as exc:
            say(str(exc))
            return 1
    if not blob.startswith(MAGIC):
        say(f"{source} は chonai のバックアップではありません。")
        return 1
    data_dir = Path(settings.data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        say(f"復元先 {data_dir} が空ではありません。空のデータディレクトリを指定してください（何も変更していません）。")
        return 1
    with tarfile.open(fileobj=io.BytesIO(blob[len(MAGIC):])) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if manifest["database"] == "sqlite":
            (data_dir / "chonai.db").write_bytes(tar.extractfile("chonai.db").read())
        else:
            if not settings.database_url:
                say("PostgreSQL のバックアップです。DATABASE_URL に空のデータベースを指定してください。")
                return 1
            with tempfile.TemporaryDirectory() as work:
                dump = Path(work) / "database.pgdump"
                dump.write_bytes(tar.extractfile("database.pgdump").read())
                url, env = _libpq(settings.database_url)
                done = subprocess.run(["pg_restore", "--no-owner", "-d", url, str(dump)], env=env,
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    say(f"pg_restore が失敗しました: {done.stderr.strip()[-300:]}")
                    return 1
        saved_anchors = tar.extractfile(anchors.FILE).read() if anchors.FILE in tar.getnames() else None
    from commands.cli_support import engine_for

    engine = engine_for(settings)
    configured = anchoring.paths(settings)
    if configured is not None:
        anchor_file = configured[0] / anchors.FILE
        if saved_anchors and not anchor_file.exists():  # the anchors were lost with the host
            configured[0].mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(anchor_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(saved_anchors)
        from store.events import EventStore

        position, digest = EventStore(engine).head()
        anchors.append(configured[0], anchors.load_key(configured[1]), "restore", position, digest,
                       restored_position=position, backup_time=manifest["time"])
    _record(engine, "audit.restored", {"position": manifest["position"], "backup_time": manifest["time"]})
    print(f"復元しました: 位置 {manifest['position']} まで（{manifest['time']} のバックアップ）。")
    return verify(settings, engine, read_models=False, public_key=None)
