"""/status: imports with history, refusals, the signed webhook, procedure look-ups."""

from __future__ import annotations

import json
import time

import pytest

from bot import signing
from commands.staff import parse_directory, replace_directory
from commands.status import ImportError_, _append, parse_procedures, parse_statuses, status_events

FIRST = "receipt_no,procedure,status,updated_at\nR7-000123,児童手当,審査中,2026-11-01T09:00:00+09:00\n"
SECOND = FIRST + "R7-000123,児童手当,認定済,2026-11-10T15:30:00+09:00\n"
CATALOGUE = ("procedure,online,channel,url,notes\n"
             "転入届,no,窓口のみ,,転出証明書が必要です\n"
             "転出届,yes,マイナポータル,https://myna.go.jp/,\n"
             "住民票の写しの交付請求,yes,LoGoフォーム,https://logoform.jp/f/abc,手数料300円\n")


@pytest.fixture
async def desk(start_bot):
    bot = await start_bot(status_secret="s3cret")
    await replace_directory(bot.runtime.engine, parse_directory(
        "user_id,name,department,roles\nclerk,窓口 花子,市民課,\n".encode()))
    return bot


async def test_two_imports_give_the_history(desk):
    engine = desk.runtime.engine
    settings = desk.runtime.settings

    def events(text):
        return status_events(parse_statuses(text.encode()), "t", engine=engine, settings=settings)

    assert await _append(engine, events(FIRST)) == 1
    assert await _append(engine, events(SECOND)) == 1
    assert await _append(engine, events(SECOND)) == 0
    await desk.say("desk", "clerk", "/status R7-000123")
    reply = await desk.wait_for("desk", "clerk", lambda m: "受付番号 R7-000123" in m["text"])
    assert "現在の状況: 認定済" in reply["text"]
    assert reply["text"].index("審査中") < reply["text"].rindex("認定済")
    assert "2026年11月10日 15:30" in reply["text"]
    await desk.settle()
    [lookup] = desk.runtime.store.read(0, types=["status.looked_up"])
    assert lookup.payload == {"user": "clerk", "receipt_no": "R7-000123", "found": True}


async def test_unknown_number_and_outsiders(desk):
    await desk.say("desk", "clerk", "/status R7-999999")
    reply = await desk.wait_for("desk", "clerk", lambda m: "見つかりません" in m["text"])
    assert "受付番号 R7-999999 は見つかりません" in reply["text"]
    await desk.say("desk", "stranger", "/status R7-000123")
    await desk.wait_for("desk", "stranger", lambda m: "職員名簿" in m["text"])


@pytest.mark.parametrize("data, message", [
    ("receipt_no,procedure,status,updated_at,氏名\nR1,a,b,2026-01-01T00:00+09:00,山田\n", "個人情報の列"),
    ("receipt_no,procedure,status\nR1,a,b\n", "列がありません: updated_at"),
    ("receipt_no,procedure,status,updated_at\nR1,a,b,2026-01-01T00:00\nR2,,b,x\n", "2行目: updated_at に時差"),
])
def test_bad_files_are_refused(data, message):
    with pytest.raises(ImportError_) as caught:
        parse_statuses(data.encode())
    assert message in str(caught.value)


async def test_webhook_requires_a_good_signature(desk):
    body = json.dumps({"receipt_no": "R7-000777", "procedure": "児童手当", "status": "受付",
                       "updated_at": "2026-11-20T10:00:00+09:00"}).encode()
    url = desk.url("/api/status")
    bad = {"X-Chonai-Timestamp": str(int(time.time())), "X-Chonai-Signature": "sha256=00"}
    stale = signing.headers("s3cret", body, now=time.time() - 3600)
    for headers in (bad, stale, {}):
        async with desk.session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401
    assert desk.runtime.store.read(0, types=["status.changed"]) == []
    async with desk.session.post(url, data=body, headers=signing.headers("s3cret", body)) as resp:
        assert resp.status == 202
    async with desk.session.post(url, data=b"{oops", headers=signing.headers("s3cret", b"{oops")) as resp:
        assert resp.status == 400
    assert len(desk.runtime.store.read(0, types=["status.changed"])) == 1


async def test_procedures_fuzzy(desk):
    from store.events import NewEvent

    await _append(desk.runtime.engine, [NewEvent("procedures.imported", "procedures:catalogue",
                                                 {"rows": parse_procedures(CATALOGUE.encode())})])
    for query in ("転入届", "転入", "てんにゅう"):
        await desk.say("desk", "clerk", f"/status {query}")
        await desk.settle()
    answers = [m["text"] for m in await desk.messages("desk", "clerk")
               if m["user"] == "chonai" and m["text"].startswith("転入届:")]
    assert len(answers) == 3 and all("オンラインではできません" in a for a in answers)
    await desk.say("desk", "clerk", "/status 住民票")
    reply = await desk.wait_for("desk", "clerk", lambda m: "LoGoフォーム" in m["text"])
    assert "https://logoform.jp/f/abc" in reply["text"]


async def test_statuses_are_shredded_after_their_retention(desk):
    """Statuses are kept sealed with the key of the day they expire: once that key is shredded
    the rows are gone and nothing in the log reads back as a receipt number."""
    import time as clock

    from commands.status import background  # noqa: F401 — the job that runs the two calls below
    from store import sealed as sealing
    from store.applications import forget_expired

    engine = desk.runtime.engine
    settings = desk.runtime.settings
    made = status_events(parse_statuses(FIRST.encode()), "t", engine=engine, settings=settings)
    assert await _append(engine, made) == 1
    stored = json.dumps([e.payload for e in desk.runtime.store.read(0, types=["status.changed"])])
    assert "R7-000123" not in stored and "R7-000123" not in made[0].stream_id
    await desk.say("desk", "clerk", "/status R7-000123")
    await desk.wait_for("desk", "clerk", lambda m: "受付番号 R7-000123" in m["text"])
    later = clock.time() + 366 * 86400  # past the default retention of 365 days
    assert sealing.shred_expired(engine, later)
    assert forget_expired(engine, later) == 1
    await desk.say("desk", "clerk", "/status R7-000123")
    await desk.wait_for("desk", "clerk", lambda m: "見つかりません" in m["text"])
    # A replay after the shredding cannot bring the status back.
    from store.applications import ApplicationsProjection
    from store.projections import rebuild

    rebuild(engine, ApplicationsProjection())
    from store.applications import history

    assert history(engine, "R7-000123") == []
