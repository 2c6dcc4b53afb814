"""The staff directory: who works where, with which roles and platform ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Column, Text, or_, select
from sqlmodel import Field, SQLModel

from store.db import read_connection
from store.events import RecordedEvent


class StaffRow(SQLModel, table=True):
    __tablename__ = "staff"
    user_id: str = Field(primary_key=True, max_length=200)
    name: str = Field(max_length=200)
    department: str = Field(max_length=200, index=True)
    roles: str = Field(default="", max_length=500)  # ;-separated
    platform_ids: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    slack_id: str | None = Field(default=None, max_length=100, index=True)
    lineworks_id: str | None = Field(default=None, max_length=200, index=True)


staff = StaffRow.__table__


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    department: str
    roles: tuple[str, ...]
    platform_ids: dict[str, str]

    def id_on(self, platform: str) -> str:
        """This person's user id on a platform (the local talk room uses user_id)."""
        for key in identity_keys(platform):
            if key in self.platform_ids:
                return self.platform_ids[key]
        return self.user_id


def _person(row) -> Person:
    return Person(row.user_id, row.name, row.department,
                  tuple(r for r in row.roles.split(";") if r), orjson.loads(row.platform_ids))


def directory_from_log(store) -> tuple[int, list[Person]]:
    """The directory as the log has it now, with the directory stream's version (the read
    model may lag behind the log; a read-modify-write must start from the log)."""
    history = store.stream("staff:directory")
    replaced = [e for e in history if e.type == "staff.directory_replaced"]
    rows = replaced[-1].payload["staff"] if replaced else []
    return len(history), [Person(r["user_id"], r["name"], r["department"], tuple(r["roles"]),
                                 dict(r.get("platform_ids") or {})) for r in rows]


class StaffProjection:
    name = "staff"
    types = frozenset({"staff.directory_replaced"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        for event in batch:  # each import replaces the directory as a whole
            conn.execute(staff.delete())
            rows = [{"user_id": r["user_id"], "name": r["name"], "department": r["department"],
                     "roles": ";".join(r.get("roles", [])),
                     "platform_ids": orjson.dumps(r.get("platform_ids", {})).decode(),
                     "slack_id": r.get("platform_ids", {}).get("slack"),
                     "lineworks_id": r.get("platform_ids", {}).get("lineworks")}
                    for r in event.payload["staff"]]
            if rows:
                conn.execute(staff.insert(), rows)

    def reset(self, conn) -> None:
        conn.execute(staff.delete())


# Platforms whose users may also be matched by the directory's user_id (existing directories
# without platform_ids keep working). A relay is matched by platform_ids alone: a relay user
# whose id merely equals someone's user_id is nobody.
USER_ID_PLATFORMS = ("local", "slack", "lineworks")


def identity_keys(platform: str) -> tuple[str, ...]:
    """The platform_ids keys that name a sender on `platform`; a relay ("webhook:logochat")
    is known by the platform value it sends, or as "webhook:logochat"."""
    if platform.startswith("webhook:"):
        relay = platform.split(":", 1)[1]
        return (relay, platform, "webhook")
    return (platform,)


def find_person(engine, platform: str, platform_user: str) -> Person | None:
    """The one identity look-up for every platform: platform_ids first; on the talk room,
    Slack and LINE WORKS a staff member with no id there still matches by user_id."""
    if not platform_user:
        return None
    keys = identity_keys(platform)
    column = {"slack": staff.c.slack_id, "lineworks": staff.c.lineworks_id}.get(platform)
    if column is not None:
        condition = column == platform_user
    else:  # platform_ids is JSON text: narrow with LIKE, then check exactly
        escaped = platform_user.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = staff.c.platform_ids.like(f"%{escaped}%", escape="\\")
    if platform in USER_ID_PLATFORMS:
        condition = or_(condition, staff.c.user_id == platform_user)
    with read_connection(engine) as conn:
        rows = conn.execute(select(staff).where(condition)).all()
    people_found = [_person(row) for row in rows]
    for person in people_found:  # a platform id match wins over a same-named user_id
        if any(person.platform_ids.get(key) == platform_user for key in keys):
            return person
    if platform in USER_ID_PLATFORMS:
        for person in people_found:
            if person.user_id == platform_user and not person.platform_ids.get(platform):
                return person
    return None


def person_by_user_id(engine, user_id: str) -> Person | None:
    """A directory entry by its own user_id (to address someone, never to identify a sender)."""
    with read_connection(engine) as conn:
        row = conn.execute(select(staff).where(staff.c.user_id == user_id)).first()
    return _person(row) if row else None


def people(engine, departments: Iterable[str] | None = None) -> list[Person]:
    query = select(staff).order_by(staff.c.department, staff.c.user_id)
    if departments:
        query = query.where(staff.c.department.in_(list(departments)))
    with read_connection(engine) as conn:
        return [_person(row) for row in conn.execute(query)]


def has_role(person: Person | None, *roles: str) -> bool:
    return bool(person and set(roles).intersection(person.roles))


def names(engine) -> list[str]:
    with read_connection(engine) as conn:
        return [row[0] for row in conn.execute(select(staff.c.name))]
