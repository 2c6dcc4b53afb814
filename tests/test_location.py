"""/here and /where: links, refusals that record nothing, coordinators' view, and positions
that cannot be read back from the database at all after their retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from commands.location import PositionError, parse_position, shred_expired
from commands.staff import parse_directory, replace_directory

DIRECTORY = ("user_id,name,department,roles\nboss,調整 太郎,危機管理課,coordinator\n"
             "a1,職員A,防災課,\na2,職員B,福祉課,\n").encode()


@pytest.mark.parametrize("text, expected", [
    ("35.6812,139.7671 本庁舎前", (35.6812, 139.7671, "本庁舎前")),
    ("35.6812, 139.7671", (35.6812, 139.7671, "")),
    ("３５．６８１２，１３９．７６７１", (35.6812, 139.7671, "")),
    ("35°40'52.3\"N 139°46'1.6\"E 駅前", (35.681194, 139.767111, "駅前")),
])
def test_positions_are_read_in_common_forms(text, expected):
    lat, lon, memo = parse_position(text)
    assert (round(lat, 4), round(lon, 4), memo) == (round(expected[0], 4), round(expected[1], 4),
                                                    expected[2])


@pytest.mark.parametrize("text", ["135,500", "91,0", "0,181", "ここです", ""])
def test_impossible_positions_are_refused(text):
    with pytest.raises(PositionError):
        parse_position(text)


@pytest.fixture
async def room(start_bot):
    bot = await start_bot(extra={"chonai_location_retention_hours": "72"})
    await replace_directory(bot.runtime.engine, parse_directory(DIRECTORY))
    return bot


def raw(bot) -> bytes:
    return b"".join(p.read_bytes() for p in Path(bot.runtime.settings.data_dir).glob("chonai.db*"))


async def test_here_posts_both_links(room):
    await room.say("field", "a1", "/here 35.6812,139.7671 本庁舎前")
    card = await room.wait_for("field", None, lambda m: "今ココ" in m["text"])
    assert "https://maps.gsi.go.jp/#16/35.6812/139.7671/" in card["text"]
    assert "https://www.google.com/maps?q=35.6812,139.7671" in card["text"]
    assert "本庁舎前" in card["text"] and "職員A" in card["text"]
    # The position is in the log only sealed.
    for event in room.runtime.store.read(0):
        assert "139.7671" not in str(event.payload)


async def test_impossible_position_records_nothing(room):
    await room.say("field", "a1", "/here 135,500")
    reply = await room.wait_for("field", "a1", lambda m: "ありえない位置" in m["text"])
    assert reply["private_to"] == "a1"
    await room.settle()
    assert room.runtime.store.read(0, types=["location.shared"]) == []
    from store.sealed import keys

    with room.runtime.engine.connect() as conn:
        assert conn.execute(keys.select()).all() == []  # the sealed request is unreadable


async def test_where_shows_the_latest_per_person_to_coordinators(room):
    await room.say("field", "a1", "/here 35.1,139.1 一回目")
    await room.say("field", "a1", "/here 35.2,139.2 二回目")
    await room.say("other", "a2", "/here 34.5,135.5 支所")
    await room.settle()
    await room.say("hq", "boss", "/where")
    listing = await room.wait_for("hq", "boss", lambda m: "直近の位置" in m["text"])
    assert "35.2/139.2" in listing["text"] and "35.1/139.1" not in listing["text"]
    assert "34.5/135.5" in listing["text"]
    assert listing["text"].index("職員B") < listing["text"].index("職員A") if "職員B" in listing["text"] else True
    await room.say("field", "a2", "/where")
    own_room = await room.wait_for("field", "a2", lambda m: "直近の位置" in m["text"])
    assert "35.2/139.2" in own_room["text"] and "34.5/135.5" not in own_room["text"]


async def test_after_retention_positions_are_gone_from_the_database(room):
    await room.say("field", "a1", "/here 35.43219,139.65432 倉庫前")
    await room.wait_for("field", None, lambda m: "今ココ" in m["text"])
    await room.settle()
    assert b"139.65432" in raw(room)  # the talk room shows the card while it is current
    services = room.runtime.services
    later = services.clock() + timedelta(hours=73)
    services.clock = lambda: later
    assert await shred_expired(services) >= 2
    await room.say("hq", "boss", "/where")
    reply = await room.wait_for("hq", "boss", lambda m: "ありません" in m["text"])
    assert reply
    await room.settle()
    await shred_expired(services)
    storage = raw(room)
    assert b"139.65432" not in storage and b"35.43219" not in storage
    assert "139.65432".encode("utf-16-le") not in storage
