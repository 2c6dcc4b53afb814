"""The staff directory and /broadcast through the talk room: refusal, preview, one DM each,
receipts, read marks, reminders only to the pending, status and export."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from commands.broadcast import run_due_work
from commands.staff import DirectoryError, parse_directory, replace_directory
from store.staff import people

DEPARTMENTS = ["防災課", "福祉課", "市民課"]


def directory_csv(n: int) -> bytes:
    lines = ["user_id,name,department,roles"]
    lines.append("hq01,本部 一郎,危機管理課,broadcaster;coordinator")
    lines += [f"s{i:04d},職員{i},{DEPARTMENTS[i % 3]}," for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("data, message", [
    (b"user_id,name,roles\nu1,a,\n", "1行目: 列がありません: department"),
    (b"user_id,name,department,roles\nu1,a,d,\nu1,b,d,\n", "3行目: user_id「u1」が 2 行目と重複"),
    (b"user_id,name,department,roles\nu1,,d,\n", "2行目: name が空です"),
    (b"user_id,name,department,roles,platform_ids\nu1,a,d,,slack\n", "2行目: platform_ids"),
])
def test_bad_directory_files_are_refused_with_line_numbers(data, message):
    with pytest.raises(DirectoryError) as caught:
        parse_directory(data)
    assert message in str(caught.value)


def test_cli_refusal_keeps_the_directory(tmp_path):
    env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(directory_csv(3))
    bad.write_bytes(b"user_id,name,department,roles\nx,,d,\n")
    run = lambda p: subprocess.run([sys.executable, "-m", "bot.cli", "staff", "import", str(p)],
                                   env=env, capture_output=True, text=True, timeout=120)
    assert run(good).returncode == 0
    refused = run(bad)
    assert refused.returncode == 1 and "2行目" in refused.stderr and "変更していません" in refused.stderr
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'chonai.db'}")
    assert len(people(engine)) == 4


@pytest.fixture
async def hq(bot):
    await replace_directory(bot.runtime.engine, parse_directory(directory_csv(300)))
    return bot


async def _send(bot, body="/broadcast 安否 【災害対策本部】地震が発生しました。安否を回答してください。",
                targets=301):
    await bot.say("hq", "hq01", body)
    preview = await bot.wait_for("hq", "hq01", lambda m: "送信前の確認" in m["text"])
    assert f"{targets} 人" in preview["text"] and preview["private_to"] == "hq01"
    bid = preview["buttons"][0]["value"]
    return preview, bid


async def test_only_broadcasters_may_send(hq):
    await hq.say("hq", "s0001", "/broadcast 全員帰宅してください")
    reply = await hq.wait_for("hq", "s0001", lambda m: "権限がありません" in m["text"])
    assert reply["private_to"] == "s0001"
    await hq.settle()
    assert hq.runtime.store.read(0, types=["broadcast.refused"])
    assert hq.runtime.store.read(0, types=["broadcast.prepared"]) == []


async def dm_count(bot, bid) -> dict[str, int]:
    with bot.runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT room, count(*) FROM room_messages WHERE ref LIKE :r "
                                 "AND room LIKE 'dm:%' GROUP BY room"),
                            {"r": f"broadcast:{bid}:%"}).all()
    return dict(rows)


async def test_preview_send_receipts_reminders(hq):
    preview, bid = await _send(hq)
    await hq.settle()
    assert await dm_count(hq, bid) == {}  # nothing goes out before 送信
    await hq.press("hq", "hq01", preview, "broadcast.send", bid)
    await hq.press("hq", "hq01", preview, "broadcast.send", bid)  # a second press sends nothing
    await hq.settle(timeout=60)
    counts = await dm_count(hq, bid)
    assert len(counts) == 301 and set(counts.values()) == {1}
    # The preview card lost its 送信／取消 buttons: nobody can press them again.
    [card] = [m for m in await hq.messages("hq", "hq01") if m["id"] == preview["id"]]
    assert "【送信済み】" in card["text"] and card["buttons"] == []
    before_answers = datetime.now(UTC)
    await asyncio.sleep(0.01)

    # 100 people answer (one of them twice, one changes their mind), 50 only open it.
    for i in range(100):
        room = f"dm:s{i:04d}"
        [notice] = [m for m in await hq.messages(room, f"s{i:04d}") if m["buttons"]]
        await hq.press(room, f"s{i:04d}", notice, "broadcast.answer", f"{bid}|無事")
        if i == 0:
            await hq.press(room, "s0000", notice, "broadcast.answer", f"{bid}|無事")
        if i == 1:
            await hq.press(room, "s0001", notice, "broadcast.answer", f"{bid}|参集不可")
    for i in range(100, 150):
        room = f"dm:s{i:04d}"
        [notice] = await hq.messages(room, f"s{i:04d}")
        await hq.read(room, f"s{i:04d}", notice)
    await hq.settle(timeout=60)
    answers = hq.runtime.store.read(0, types=["broadcast.answered"], limit=10_000)
    assert len(answers) == 101  # the repeated press added nothing; the second question counts
    history = [e.payload["answer"] for e in answers if e.payload["user_id"] == "s0001"]
    assert history == ["無事", "参集不可"]
    # The card shows what was answered, in place, and keeps its (equal) buttons.
    await run_due_work(hq.runtime.services)
    await hq.settle(timeout=60)
    [card] = [m for m in await hq.messages("dm:s0001", "s0001") if m["buttons"]]
    assert "回答済み：無事／参集不可（" in card["text"]
    assert {b["style"] for b in card["buttons"]} == {None} and len(card["buttons"]) == 6

    env = {**os.environ, "CHONAI_DATA_DIR": hq.runtime.settings.data_dir}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "status", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    status = json.loads(out.stdout)
    assert (status["targets"], status["acknowledged"], status["pending"]) == (301, 100, 201)
    assert status["by_answer"]["無事"] == 99 and status["by_answer"]["参集不可"] == 1
    assert status["questions"]["safety"]["無事"] == 100
    assert status["questions"]["attendance"] == {"参集可能": 0, "参集不可": 1, "未定": 0}
    assert status["by_department"]["防災課"]["safety"]["無事"] == 34
    assert sum(d["targets"] for d in status["by_department"].values()) == 301
    assert status["by_department"]["防災課"]["acknowledged"] == 34
    assert status["median_seconds_to_ack"] is not None
    assert status["delivery"]["mode"] == "dm" and status["delivery"]["delivered"] == 301
    assert status["delivery"]["seconds"] is not None

    # Recomputed from the log as of a past moment: delivered, nobody had answered yet.
    def status_as_of(moment):
        return json.loads(subprocess.run(
            [sys.executable, "-m", "bot.cli", "broadcast", "status", bid, "--json", "--as-of",
             moment.isoformat()], env=env, capture_output=True, text=True, timeout=120).stdout)

    then = status_as_of(before_answers)
    assert (then["acknowledged"], then["pending"], then["delivery"]["delivered"]) == (0, 301, 301)
    assert then["by_answer"]["無事"] == 0
    assert status_as_of(datetime.now(UTC)) == status  # as of now: the live tallies
    await hq.say("hq", "hq01", f"/broadcast status {bid}")
    shown = await hq.wait_for("hq", "hq01", lambda m: "の状況】" in m["text"] and
                              m["private_to"] == "hq01")
    assert "確認済み 100 / 301 人" in shown["text"]
    assert "配信: 個別メッセージ 301/301 人（" in shown["text"] and "秒で完了" in shown["text"]
    # The broadcaster sees who has not answered (the first 20, then a count) and may resend.
    assert "未回答の人（部署別）" in shown["text"] and "ほか 181 名" in shown["text"]
    [resend] = [b for b in shown["buttons"] if b["action_id"] == "broadcast.resend"]
    # Someone who is not a broadcaster sees counts, never names.
    await hq.say("hq", "s0005", f"/broadcast status {bid}")
    counts_only = await hq.wait_for("hq", "s0005", lambda m: "の状況】" in m["text"])
    assert "未回答の人" not in counts_only["text"] and not counts_only["buttons"]
    for _ in range(2):  # pressed twice: one resend
        await hq.press("hq", "hq01", shown, "broadcast.resend", resend["value"])
    await hq.settle(timeout=60)
    again = await dm_count(hq, bid)
    assert sum(again.values()) == 301 + 201  # one more notice to each of the 201 pending
    told = [m["text"] for m in await hq.messages("hq", "hq01") if "再送" in m["text"]]
    assert any("201 人に再送しました" in t for t in told) and any("すでに使われています" in t for t in told)

    export = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "export", bid, "--csv"],
                            env=env, capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert len(export) == 302
    row = next(line for line in export if line.startswith("s0001,"))
    assert ",無事," in row and row.split(",")[5] == "参集不可"
    assert row.split(",")[9:] == ["無事", "参集不可"]

    # Ten minutes later only the pending are reminded, once, however often it runs.
    services = hq.runtime.services
    later = services.clock() + timedelta(minutes=11)
    services.clock = lambda: later
    assert await run_due_work(services) == 201
    assert await run_due_work(services) == 0
    await hq.settle(timeout=60)
    counts = await dm_count(hq, bid)
    assert counts["dm:s0000"] == 1 and counts["dm:s0200"] == 3  # notice, resend, reminder

    # Close: no more reminders.
    await hq.say("hq", "hq01", f"/broadcast close {bid}")
    await hq.wait_for("hq", "hq01", lambda m: "終了しました" in m["text"])
    await hq.settle()
    much_later = later + timedelta(minutes=30)
    services.clock = lambda: much_later
    assert await run_due_work(services) == 0

    # chonai replay rebuilds every read model from the log: the same tallies, nothing re-sent.
    replay = subprocess.run([sys.executable, "-m", "bot.cli", "replay"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    again = json.loads(subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "status",
                                       bid, "--json"], env=env, capture_output=True, text=True,
                                      timeout=120).stdout)
    assert (again["acknowledged"], again["targets"]) == (100, 301)
    await hq.settle()
    assert (await dm_count(hq, bid))["dm:s0200"] == 3


async def test_read_only_notice_counts_read_marks(hq):
    preview, bid = await _send(hq, "/broadcast 部署:防災課 訓練 明日は防災訓練です", targets=100)
    await hq.press("hq", "hq01", preview, "broadcast.send", bid)
    await hq.settle(timeout=60)
    [notice] = await hq.messages("dm:s0000", "s0000")
    assert notice["text"].startswith("【訓練】")
    await hq.read("dm:s0000", "s0000", notice)
    await hq.settle()
    status = hq.runtime.store.read(0, types=["broadcast.read"])
    assert len(status) == 1


async def test_cancel_sends_nothing(hq):
    preview, bid = await _send(hq)
    await hq.press("hq", "hq01", preview, "broadcast.cancel", bid)
    await hq.settle()
    await hq.press("hq", "hq01", preview, "broadcast.send", bid)
    await hq.settle()
    assert await dm_count(hq, bid) == {}


async def test_one_post_to_an_all_staff_room_counts_each_presser(hq):
    preview, bid = await _send(hq, "/broadcast 安否 全体投稿:all-staff 震度6弱。安否を回答してください。")
    assert "ルーム「all-staff」への全体投稿" in preview["text"]
    await hq.press("hq", "hq01", preview, "broadcast.send", bid)
    await hq.settle(timeout=60)
    assert await dm_count(hq, bid) == {}  # nobody is messaged one by one
    [notice] = [m for m in await hq.messages("all-staff", "s0000") if m["buttons"]]
    assert notice["text"].startswith("@channel ")

    for i in range(5):  # who pressed is who answered, each counted once
        await hq.press("all-staff", f"s{i:04d}", notice, "broadcast.answer", f"{bid}|無事")
    await hq.press("all-staff", "s0000", notice, "broadcast.answer", f"{bid}|無事")
    await hq.press("all-staff", "outsider", notice, "broadcast.answer", f"{bid}|無事")
    await hq.wait_for("all-staff", "outsider", lambda m: "登録されていません" in m["text"])
    await hq.settle()

    env = {**os.environ, "CHONAI_DATA_DIR": hq.runtime.settings.data_dir}
    env.pop("DATABASE_URL", None)
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "bot.cli", "broadcast", "status", bid, "--json"], env=env,
        capture_output=True, text=True, timeout=120).stdout)
    assert (status["mode"], status["targets"], status["acknowledged"]) == ("room", 301, 5)
    assert status["delivery"]["room"] == "all-staff"
    assert status["delivery"]["delivered"] == 301 and status["delivery"]["seconds"] is not None
