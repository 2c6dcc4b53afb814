"""Signed anchors of the log outside the database: the chain head (position, digest, time)
signed with an Ed25519 key, numbered in sequence and appended to `anchors.jsonl` in
CHONAI_ANCHOR_DIR. Whoever can write the database can rewrite the chain and its head; they
cannot make a signature for a digest they changed, nor remove a numbered anchor unseen.

An anchor line: {"seq", "kind" ("head" | "restore" | "rotate"), "position", "digest", "time",
"prev" (digest of the previous line), "key" (the signer's public key, base64), …, "sig"}.
A "restore" anchor marks a restore from a backup (`restored_position`, `backup_time`): the
chain may be shorter than the anchors before it. A "rotate" anchor, signed by the old key,
names the next key (`next_key`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "anchors.jsonl"


class AnchorError(ValueError):
    """A setting or a file that cannot be used (message in Japanese)."""


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in data.items() if k != "sig"}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":")).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def load_key(path: str | os.PathLike[str], *, create: bool = True):
    """The Ed25519 private key at `path` (PEM), created 0600 if missing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.exists():
        if not create:
            raise AnchorError(f"署名鍵がありません: {path}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_key_text(key) -> str:  # noqa: ANN001
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64(raw)


def public_key_from_text(text: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization

        return serialization.load_pem_public_key(text.encode())
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def read(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(directory) / FILE
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                found.append(json.loads(line))
            except ValueError:
                found.append({"seq": None, "broken_line": number})
    return found


def append(directory: str | os.PathLike[str], key, kind: str, position: int, digest: str,  # noqa: ANN001
           **extra: Any) -> dict[str, Any]:
    """Sign and append one anchor; returns it. The directory is created 0700, the file 0600."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = read(directory)
    last = existing[-1] if existing else None
    anchor = {"seq": (last["seq"] + 1) if last and isinstance(last.get("seq"), int) else 1,
              "kind": kind, "position": position, "digest": digest,
              "time": datetime.now(UTC).isoformat(timespec="seconds"),
              "prev": hashlib.sha256(_canonical(last) + (last or {}).get("sig", "").encode()).hexdigest()
              if last else "", "key": public_key_text(key), **extra}
    anchor["sig"] = _b64(key.sign(_canonical(anchor)))
    path = directory / FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(anchor, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return anchor


@dataclass
class AnchorCheck:
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    bad_position: int | None = None
    lost_events: int = 0  # anchored events behind a restore point
    restores: int = 0


def check(anchors: list[dict[str, Any]], trusted_key: str | None, digest_at, chain_length: int
          ) -> AnchorCheck:
    """Check anchors against the chain: signatures (starting from `trusted_key`, or the first
    anchor's key, and following signed rotations), unbroken numbering and links, and for each
    anchor the chain's digest at its position. `digest_at(position)` gives the chain's digest
    (None past its end). A chain shorter than an anchor fails unless a later restore anchor
    says so; the events lost that way are counted."""
    result = AnchorCheck(ok=True)
    if not anchors:
        return result
    key_text = trusted_key or anchors[0].get("key")
    previous: dict[str, Any] | None = None
    for index, anchor in enumerate(anchors):
        seq = anchor.get("seq")
        if seq != (previous["seq"] + 1 if previous else 1):
            result.problems.append(f"アンカーの番号が飛んでいます（{previous['seq'] if previous else 0} の次が {seq}）"
                                   "：アンカーが削除されたか、ファイルが差し替えられています")
            result.ok = False
            break
        expected_prev = hashlib.sha256(_canonical(previous) + previous.get("sig", "").encode()).hexdigest() \
            if previous else ""
        if anchor.get("prev") != expected_prev:
            result.problems.append(f"アンカー {seq} の前のアンカーとのつながりが正しくありません")
            result.ok = False
            break
        if anchor.get("key") != key_text:
            result.problems.append(f"アンカー {seq} は信頼する公開鍵で署名されていません")
            result.ok = False
            break
        try:
            public_key_from_text(key_text).verify(base64.b64decode(anchor["sig"]), _canonical(anchor))
        except Exception:  # noqa: BLE001 — any failure is a bad signature
            result.problems.append(f"アンカー {seq} の署名が正しくありません")
            result.ok = False
            break
        if anchor["kind"] == "rotate":
            key_text = anchor["next_key"]
        if anchor["kind"] == "restore":
            result.restores += 1
        later_restore = next((a for a in anchors[index + 1:] if a.get("kind") == "restore"), None)
        position = anchor["position"]
        if position > chain_length:
            if later_restore is not None and later_restore.get("restored_position", 0) < position:
                result.lost_events = max(result.lost_events,
                                         position - later_restore["restored_position"])
            else:
                result.ok = False
                result.bad_position = chain_length + 1
                result.problems.append(f"ログがアンカー {seq}（位置 {position}）より短くなっています："
                                       f"位置 {chain_length + 1} 以降のイベントが削除されています")
                break
        elif position > 0 and digest_at(position) != anchor["digest"]:
            covered = later_restore is not None and later_restore.get("restored_position", 0) < position
            if not covered:
                result.ok = False
                result.bad_position = position
                result.problems.append(f"位置 {position} のダイジェストがアンカー {seq} と違います："
                                       "それ以前のイベントが書き換えられています")
                break
        result.checked += 1
        previous = anchor
    return result
