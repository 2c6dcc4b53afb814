"""A broadcast driven through signed Slack requests against the Slack Web API stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from commands.staff import parse_directory, replace_directory
from tests.test_slack import block_actions, command, send, start_slack, standin, wait_until  # noqa: F401

USERS = 250


async def test_broadcast_over_slack(start_bot, standin):  # noqa: F811
    # Slack's own limits are the stand-in's business here; delivery runs flat out.
    bot = await start_slack(start_bot, standin, extra={"chonai_slack_workspace_rate": "5000",
                                                       "chonai_slack_workspace_burst": "5000"})
    rows = ["user_id,name,department,roles,platform_ids", "hq,本部,危機管理課,broadcaster,slack:UHQ",
            "intern,研修生,総務課,,slack:UINTERN"]
    rows += [f"s{i:03d},職員{i},課{i % 5},,slack:U{i:05d}" for i in range(USERS)]
    rows.append("nobody,未登録者,課0,,")  # no Slack account: the notice cannot reach them
    await replace_directory(bot.runtime.engine, parse_directory(("\n".join(rows) + "\n").encode()))
    hook = standin.hook_url()

    # A non-broadcaster is refused.
    status, _ = await send(bot, command("/broadcast", "全員帰宅", user="UINTERN", trigger="t0",
                                        response_url=hook))
    assert status == 200
    await wait_until(lambda: any("権限がありません" in p.get("text", "") for p in standin.hook_posts))

    status, _ = await send(bot, command("/broadcast", "安否 震度6弱。安否を回答してください。",
                                        user="UHQ", channel="CHQ", trigger="t1",
                                        response_url=hook))
    assert status == 200
    await bot.settle()
    [prepared] = bot.runtime.store.read(0, types=["broadcast.prepared"])
    bid = str(prepared.payload["id"])
    assert not [p for p in standin.posts() if p["channel"].startswith("D")]  # preview only

    for trigger in ("t2", "t3"):  # 送信, pressed twice
        status, _ = await send(bot, block_actions("broadcast.send", bid, response_url=hook,
                                                  channel="CHQ", user="UHQ", trigger=trigger))
        assert status == 200
    await bot.settle(timeout=60)
    dms = [p for p in standin.posts() if p["channel"].startswith("D")]
    assert len(dms) == USERS + 2 and len({p["channel"] for p in dms}) == USERS + 2

    for i in range(0, USERS, 2):  # half answer; one answers twice
        times = 2 if i == 0 else 1
        for n in range(times):
            status, _ = await send(bot, block_actions(
                "broadcast.answer", f"{bid}|無事", response_url=hook, channel=f"D{i:05d}",
                user=f"U{i:05d}", trigger=f"a{i}.{n}"))
            assert status == 200
    await bot.settle(timeout=60)
    answered = bot.runtime.store.read(0, types=["broadcast.answered"], limit=10_000)
    assert len(answered) == USERS // 2
    env = {**os.environ, "CHONAI_DATA_DIR": bot.runtime.settings.data_dir}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "status", bid, "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    status = json.loads(out.stdout)
    assert (status["targets"], status["acknowledged"]) == (USERS + 3, USERS // 2)
    # The status says how it went: DMs, all but the one without an account, and how long.
    delivery = status["delivery"]
    assert (delivery["mode"], delivery["delivered"], delivery["undeliverable"]) == \
        ("dm", USERS + 2, 1)
    assert delivery["seconds"] is not None and delivery["seconds"] >= 0
    export = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "export", bid, "--csv"],
                            env=env, capture_output=True, text=True, timeout=120).stdout
    [missed] = [line for line in export.splitlines() if line.startswith("nobody,")]
    assert missed.split(",")[8] == "user_not_found"
    # Each answer updates that person's card in place (chat.update in their DM), off the click path.
    from commands.broadcast import run_due_work

    await run_due_work(bot.runtime.services)
    await bot.settle(timeout=60)
    updated = [c.params for c in standin.calls_to("chat.update")]
    answered_cards = [p for p in updated if "回答済み：無事" in str(p.get("text", "")) + str(p.get("blocks", ""))]
    assert {p["channel"] for p in answered_cards} == {f"D{i:05d}" for i in range(0, USERS, 2)}


async def test_daily_slack_sync_runs_once_a_day(start_bot, standin):  # noqa: F811
    from commands.staff import daily_slack_sync, sync_due

    bot = await start_slack(start_bot, standin)
    assert not sync_due(bot.runtime.services)  # "off" in the tests' settings
    standin.users = [{"id": "U1", "name": "taro", "real_name": "庁内 太郎", "deleted": False,
                      "is_bot": False}]
    services = bot.runtime.services
    assert await daily_slack_sync(services) is True
    assert await daily_slack_sync(services) is False  # already synced today
    syncs = [e for e in bot.runtime.store.read(0, types=["staff.directory_replaced"])
             if e.actor == "slack-sync"]
    assert len(syncs) == 1
