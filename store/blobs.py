"""Binary attachments (chart images) stored beside the log, named by their content hash."""

from __future__ import annotations

import hashlib

from sqlalchemy import Column, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from store.db import read_connection, write_transaction


class Blob(SQLModel, table=True):
    __tablename__ = "blobs"
    name: str = Field(sa_column=Column(String(80), primary_key=True))
    content_type: str = Field(max_length=100)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: str = Field(max_length=40)


blobs = Blob.__table__


def put_blob(engine, data: bytes, content_type: str = "image/png") -> str:
    from store.events import format_time, utcnow

    name = hashlib.sha256(data).hexdigest()[:32] + (".png" if content_type == "image/png" else "")
    try:
        with write_transaction(engine) as conn:
            conn.execute(blobs.insert().values(name=name, content_type=content_type, data=data,
                                               created_at=format_time(utcnow())))
    except IntegrityError:
        pass  # the same content is stored once
    return name


def get_blob(engine, name: str) -> tuple[str, bytes] | None:
    with read_connection(engine) as conn:
        row = conn.execute(select(blobs.c.content_type, blobs.c.data)
                           .where(blobs.c.name == name)).first()
    return (row[0], bytes(row[1])) if row else None
