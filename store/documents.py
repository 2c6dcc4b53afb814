"""The municipality's documents and their passages (the read model behind /ask)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Text, func, select
from sqlmodel import Field, SQLModel

from store.db import read_connection
from store.events import RecordedEvent


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    source: str = Field(primary_key=True, max_length=300)  # the file name it came from
    title: str = Field(max_length=300)
    kind: str = Field(max_length=20)
    sha256: str = Field(max_length=64)
    departments: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    roles: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    passages: int = 0
    imported_at: str = Field(max_length=40)


class PassageRow(SQLModel, table=True):
    __tablename__ = "passages"
    __table_args__ = (Index("ix_passages_source", "source"),)
    id: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    source: str = Field(max_length=300)
    ordinal: int
    heading: str = Field(sa_column=Column(Text, nullable=False))
    page: int | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    terms: str = Field(sa_column=Column(Text, nullable=False))  # index terms, space-separated


class PassageVector(SQLModel, table=True):
    """A passage's embedding from the configured endpoint (float32), for the dense score."""

    __tablename__ = "passage_vectors"
    passage_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    model: str = Field(max_length=100)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


documents = Document.__table__
passages = PassageRow.__table__
vectors = PassageVector.__table__


class DocumentsProjection:
    """Documents and their passages; `terms` (text → index terms) comes from the retrieval
    code above the store."""

    name = "documents"
    types = frozenset({"docs.imported", "docs.removed"})

    def __init__(self, terms) -> None:  # noqa: ANN001
        self.terms = terms

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        terms = self.terms
        for event in batch:
            data = event.payload
            conn.execute(passages.delete().where(passages.c.source == data["source"]))
            conn.execute(documents.delete().where(documents.c.source == data["source"]))
            if event.type == "docs.removed":
                continue
            rows = [{"source": data["source"], "ordinal": i, "heading": p["heading"],
                     "page": p.get("page"), "text": p["text"],
                     "terms": " ".join(terms(p["heading"] + "\n" + p["text"]))}
                    for i, p in enumerate(data["passages"])]
            if rows:
                conn.execute(passages.insert(), rows)
            conn.execute(documents.insert().values(
                source=data["source"], title=data["title"], kind=data["kind"],
                sha256=data["sha256"], departments=orjson.dumps(data.get("departments", [])).decode(),
                roles=orjson.dumps(data.get("roles", [])).decode(), passages=len(rows),
                imported_at=event.occurred_at))

    def reset(self, conn) -> None:
        conn.execute(passages.delete())
        conn.execute(documents.delete())


def list_documents(engine) -> list[dict[str, Any]]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(documents).order_by(documents.c.source)).mappings().all()
    return [{**row, "departments": orjson.loads(row["departments"]),
             "roles": orjson.loads(row["roles"])} for row in rows]


def find_document(engine, source: str) -> dict[str, Any] | None:
    return next((d for d in list_documents(engine) if d["source"] == source), None)


def iter_passage_terms(engine, batch: int = 20000) -> Iterator[tuple[int, str, str, str]]:
    """(passage id, source, terms, restriction json) for building the in-memory index."""
    query = (select(passages.c.id, passages.c.source, passages.c.terms,
                    documents.c.departments, documents.c.roles)
             .join(documents, documents.c.source == passages.c.source)
             .order_by(passages.c.id))
    with read_connection(engine) as conn:
        result = conn.execution_options(stream_results=True).execute(query)
        while rows := result.fetchmany(batch):
            yield from rows


def passages_by_id(engine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    query = (select(passages.c.id, passages.c.source, passages.c.heading, passages.c.page,
                    passages.c.text, documents.c.title, documents.c.departments, documents.c.roles)
             .join(documents, documents.c.source == passages.c.source)
             .where(passages.c.id.in_(list(ids))))
    with read_connection(engine) as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["restricted"] = row.pop("departments") != "[]" or row.pop("roles") != "[]"
    return {row["id"]: row for row in rows}


def generation(engine) -> tuple[int, int]:
    """Changes whenever passages change: (max id, count)."""
    with read_connection(engine) as conn:
        row = conn.execute(select(func.max(passages.c.id), func.count())
                           .select_from(passages)).first()
    return (row[0] or 0, row[1] or 0)


def passages_without_vectors(engine, model: str, limit: int = 64) -> list[tuple[int, str]]:
    query = (select(passages.c.id, passages.c.heading, passages.c.text)
             .outerjoin(vectors, (vectors.c.passage_id == passages.c.id) & (vectors.c.model == model))
             .where(vectors.c.passage_id.is_(None)).order_by(passages.c.id).limit(limit))
    with read_connection(engine) as conn:
        return [(r.id, f"{r.heading}\n{r.text}") for r in conn.execute(query)]


def save_vectors(engine, model: str, found: list[tuple[int, bytes]]) -> None:
    from store.db import write_transaction

    with write_transaction(engine) as conn:
        conn.execute(vectors.delete().where(vectors.c.passage_id.in_([i for i, _ in found])))
        conn.execute(vectors.insert(), [{"passage_id": i, "model": model, "vector": v}
                                        for i, v in found])


def load_vectors(engine, model: str) -> list[tuple[int, bytes]]:
    query = (select(vectors.c.passage_id, vectors.c.vector)
             .join(passages, passages.c.id == vectors.c.passage_id)
             .where(vectors.c.model == model))
    with read_connection(engine) as conn:
        return [(r[0], bytes(r[1])) for r in conn.execute(query)]
