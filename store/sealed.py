"""Crypto-shredding: personal data that must not outlive its retention (positions) is stored
only encrypted, each piece with its own key kept here; deleting the key at expiry makes
every copy — in the append-only log, the outbox, the read models — unreadable."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, String, select
from sqlmodel import Field, SQLModel

from store.db import read_connection, write_transaction


class SealingKey(SQLModel, table=True):
    __tablename__ = "sealing_keys"
    key_id: str = Field(sa_column=Column(String(40), primary_key=True))
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))


keys = SealingKey.__table__


def seal(engine, plaintext: str, ttl_seconds: float) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key_id = os.urandom(12).hex()
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    data = AESGCM(key).encrypt(nonce, plaintext.encode(), key_id.encode())
    with write_transaction(engine) as conn:
        conn.execute(keys.insert().values(key_id=key_id, key=key,
                                          expires_at=time.time() + ttl_seconds))
    return {"key_id": key_id, "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(data).decode()}


def unseal(engine, sealed: dict[str, Any] | None, now: float | None = None) -> str | None:
    """The plaintext, or None once its key has expired or been shredded."""
    if not sealed:
        return None
    with read_connection(engine) as conn:
        return unseal_in(conn, sealed, now)


def bucket_key(engine, key_id: str, expires_at: float) -> bytes:
    """A key shared by everything that expires together (one day's application statuses),
    made on first use; gone with the others at expiry."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with write_transaction(engine) as conn:
        found = conn.execute(select(keys.c.key).where(keys.c.key_id == key_id)).scalar()
        if found is not None:
            return found
        key = AESGCM.generate_key(bit_length=256)
        conn.execute(keys.insert().values(key_id=key_id, key=key, expires_at=expires_at))
        return key


def seal_with(key_id: str, key: bytes, plaintext: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    data = AESGCM(key).encrypt(nonce, plaintext.encode(), key_id.encode())
    return {"key_id": key_id, "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(data).decode()}


def unseal_in(conn, sealed: dict[str, Any], now: float | None = None) -> str | None:
    """`unseal` on an open connection (inside a projection's transaction)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    row = conn.execute(select(keys.c.key, keys.c.expires_at)
                       .where(keys.c.key_id == sealed["key_id"])).first()
    if row is None or row.expires_at <= (now or time.time()):
        return None
    return AESGCM(row.key).decrypt(base64.b64decode(sealed["nonce"]),
                                   base64.b64decode(sealed["data"]),
                                   sealed["key_id"].encode()).decode()


def shred_expired(engine, now: float | None = None) -> list[str]:
    with write_transaction(engine) as conn:
        gone = [r[0] for r in conn.execute(select(keys.c.key_id)
                                           .where(keys.c.expires_at <= (now or time.time())))]
        if gone:
            conn.execute(keys.delete().where(keys.c.key_id.in_(gone)))
    return gone
