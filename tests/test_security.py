"""Every entry point against a hostile page, a forged identity and poison input: each refusal
is a 4xx that records nothing, and is counted in /metrics by its reason."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import signing
from commands.staff import parse_directory, replace_directory
from tests.test_browser import browser  # noqa: F401 — the Chromium fixture
from tests.test_webhook import SECRET, relay, relayed, send  # noqa: F401 — relay fixtures

ROOT = Path(__file__).resolve().parents[1]
DIRECTORY = ("user_id,name,department,roles,platform_ids\n"
             "bousai01,防災 一郎,危機管理課,broadcaster,logochat:logo-777\n"
             "staff01,職員 花子,市民課,,\n").encode()


async def refused_count(bot, reason: str) -> float:
    async with bot.session.get(bot.url("/metrics")) as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(f'chonai_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def raw_post(bot, path: str, body: bytes, **headers: str) -> int:
    async with bot.session.post(bot.url(path), data=body, headers=headers) as resp:
        return resp.status


# -- cross-site ------------------------------------------------------------------------------
HOSTILE_PAGE = """<!doctype html><meta charset="utf-8"><body>
<form id="f" method="POST" enctype="text/plain" action="{target}/api/rooms/general/messages">
<input name='{{"user":"mayor","text":"/broadcast 訓練","pad":"' value='"}}'></form>
<script>
const body = JSON.stringify({{user: "mayor", text: "/help"}});
Promise.allSettled([
  fetch("{target}/api/rooms/general/messages", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch("{target}/api/rooms/general/messages", {{method: "POST",
        headers: {{"Content-Type": "application/json"}}, body}}),
]).then(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script>"""


async def test_a_page_on_another_origin_cannot_post(bot, browser):  # noqa: F811
    hostile = web.Application()
    page = HOSTILE_PAGE.format(target=bot.url("").rstrip("/"))
    hostile.router.add_get("/", lambda request: web.Response(text=page, content_type="text/html"))
    server = TestServer(hostile, host="127.0.0.1")  # same host, another port: another origin
    await server.start_server()
    try:
        tab = await browser.new_page()
        target = bot.url("/api/rooms/general/messages")
        async with tab.expect_navigation(url=target, timeout=15_000):  # the form, after fetches
            await tab.goto(str(server.make_url("/")))
        # The refusals were counted (the form post and the no-cors fetch reached the server).
        deadline = time.monotonic() + 10
        while await refused_count(bot, "cross_site") < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await refused_count(bot, "cross_site") >= 2
    finally:
        await server.close()
    assert bot.runtime.store.head()[0] == 0
    assert await bot.messages("general") == []


async def test_state_changes_need_json_from_our_own_origin(bot):
    body = json.dumps({"user": "staff01", "text": "/help"}).encode()
    path = "/api/rooms/general/messages"
    assert await raw_post(bot, path, body, **{"Content-Type": "text/plain"}) == 415
    assert await raw_post(bot, path, body, **{"Content-Type": "application/x-www-form-urlencoded"}) == 415
    assert await raw_post(bot, path, body, **{"Content-Type": "application/json",
                                              "Origin": "http://evil.example"}) == 403
    assert await raw_post(bot, path, body, **{"Content-Type": "application/json",
                                              "Sec-Fetch-Site": "cross-site"}) == 403
    assert await raw_post(bot, path, body, **{"Content-Type": "application/json", "Origin": "null"}) == 403
    assert bot.runtime.store.head()[0] == 0
    own = bot.url("").rstrip("/")
    # The page itself, and a script with no Origin at all, are served.
    assert await raw_post(bot, path, body, **{"Content-Type": "application/json", "Origin": own,
                                              "Sec-Fetch-Site": "same-origin"}) == 201
    assert await raw_post(bot, path, body, **{"Content-Type": "application/json"}) == 201
    async with bot.session.get(bot.url("/")) as resp:
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_a_rebinding_host_is_refused_but_signed_routes_work_behind_any_name(relayed):
    evil = {"Host": f"rebind.attacker.example:{relayed.server.port}"}
    async with relayed.session.get(relayed.url("/api/rooms/dm:alice/messages"),
                                   params={"user": "alice"}, headers=evil) as resp:
        assert resp.status == 421
    async with relayed.session.get(relayed.url("/"), headers=evil) as resp:
        assert resp.status == 421
    body = json.dumps({"user": "alice", "text": "/help"}).encode()
    assert await raw_post(relayed, "/api/rooms/general/messages", body,
                          **{"Content-Type": "application/json", **evil}) == 421
    assert relayed.runtime.store.head()[0] == 0
    message = json.dumps({"platform": "logochat", "room": "r1", "user": "u1", "text": "/help",
                          "id": "m-1"}).encode()
    async with relayed.session.post(relayed.url("/webhook/inbound"), data=message, headers={
            "Host": "chonai.city.example.lg.jp", "Content-Type": "application/json",
            **signing.headers(SECRET, message)}) as resp:
        assert resp.status == 200
    assert await refused_count(relayed, "host") == 3


# -- who is speaking -------------------------------------------------------------------------
async def test_nobody_speaks_as_the_bot_or_into_another_persons_dm(bot):
    for user in ("chonai", "庁内ボット", "a\x00b", "x" * 1000, "庁内ボット\u200b", "ｃｈｏｎａｉ",
                 "chonaı", "cho\u00adnai", "CHONAI", "ﾁｮｳﾅｲ"):
        status, _ = await bot.post("/api/rooms/general/messages", {"user": user, "text": "/help"})
        assert status in (400, 403), user
    status, _ = await bot.post("/api/rooms/dm:alice/messages", {"user": "mallory", "text": "hi"})
    assert status == 403
    status, _ = await bot.post("/api/rooms/DM:alice/messages", {"user": "mallory", "text": "hi"})
    assert status == 400  # no lookalike of someone's dm: room
    await bot.say("dm:alice", "alice", "メモ")
    async with bot.session.get(bot.url("/api/rooms")) as resp:
        assert all(not r["room"].startswith("dm:") for r in (await resp.json())["rooms"])
    await bot.say("general", "alice", "こんにちは")
    [message] = await bot.messages("general")
    for user in ("a\nb", "\x00", "y" * 100_000):
        status, _ = await bot.read("general", user, message)
        assert status in (400, 403, 413)
    async with bot.session.get(bot.url("/api/rooms/dm:alice/messages"),
                               params={"user": "mallory"}) as resp:
        assert resp.status == 403
    assert bot.runtime.store.head()[0] == 0


async def test_relay_identity_comes_from_platform_ids(relayed, relay):
    await replace_directory(relayed.runtime.engine, parse_directory(DIRECTORY))
    # The broadcaster's relay id is logo-777: they may broadcast.
    assert await send(relayed, {"platform": "logochat", "room": "hq", "user": "logo-777",
                                "text": "/broadcast 訓練です", "id": "b-1"}) == 200
    preview = await relay.wait(lambda m: "送信前の確認" in m["text"])
    assert preview["room"] == "hq"
    # A relay user whose id merely equals the broadcaster's user_id has no roles.
    assert await send(relayed, {"platform": "logochat", "room": "hq", "user": "bousai01",
                                "text": "/broadcast 乗っ取り", "id": "b-2"}) == 200
    refusal = await relay.wait(lambda m: "権限がありません" in m["text"])
    assert refusal["room"] == "hq"
    await relayed.settle()
    assert [e.payload["user"] for e in relayed.runtime.store.read(0, types=["broadcast.refused"])] \
        == ["bousai01"]


# -- sign-in beyond loopback ---------------------------------------------------------------
async def test_sign_in_by_one_time_link_then_cookie(start_bot):
    from bot import signin

    bot = await start_bot(host="0.0.0.0", extra={"chonai_signin_days": "90"})
    settings = bot.runtime.settings
    await replace_directory(bot.runtime.engine, parse_directory(DIRECTORY))
    code = signin.one_time_code(settings, "staff01")
    # The link opens a page; only its own form (a POST from this origin) uses the code.
    async with bot.session.get(bot.url(f"/signin?code={code}"), allow_redirects=False) as resp:
        assert resp.status == 200 and resp.headers["Referrer-Policy"] == "no-referrer"
        assert "method=post" in await resp.text()
    async with bot.session.post(bot.url("/signin"), data={"code": code}, allow_redirects=False,
                                headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403  # a page elsewhere cannot sign someone in
    async with bot.session.post(bot.url("/signin"), data={"code": code}, allow_redirects=False,
                                headers={"Origin": bot.url("").rstrip("/")}) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # (aiohttp's client keeps no cookies for an IP address: send it as a browser would)
    bot.session.headers["Cookie"] = cookie.split(";")[0].replace("Set-Cookie: ", "")
    async with bot.session.post(bot.url("/signin"), data={"code": code}, allow_redirects=False) as resp:
        assert resp.status == 401  # a link works once
    async with bot.session.get(bot.url("/api/me")) as resp:
        assert (await resp.json())["user"] == "staff01"
    status, _ = await bot.post("/api/rooms/general/messages", {"user": "staff01", "text": "/help"})
    assert status == 201
    status, _ = await bot.post("/api/rooms/general/messages", {"user": "bousai01", "text": "/help"})
    assert status == 403
    del bot.session.headers["Cookie"]
    expired = signin.issue(settings, "staff01", now=time.time() - 91 * 86400)
    for token in ("ｎｏｎ-ascii.トークン", "a.b.c", "", expired, "x" * 5000):
        async with bot.session.get(bot.url("/api/me"),
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 401, token[:20]
    fresh = signin.issue(settings, "staff01", now=time.time() - 5)
    unused_link = signin.one_time_code(settings, "staff01", now=time.time() - 5)
    async with bot.session.get(bot.url("/api/blobs/abc.png")) as resp:
        assert resp.status == 401  # chart images are for signed-in staff too
    from store.events import NewEvent

    await bot.runtime.store.append(NewEvent("signin.revoked", signin.revocation_stream("staff01"),
                                            {"user": "staff01", "before": int(time.time())}))
    async with bot.session.get(bot.url("/api/me"), headers={"Authorization": f"Bearer {fresh}"}) as resp:
        assert resp.status == 401
    async with bot.session.post(bot.url("/signin"), data={"code": unused_link},
                                allow_redirects=False) as resp:
        assert resp.status == 401  # revoking also ends links not yet used
    # Someone removed from the directory is signed out too.
    bousai = signin.issue(settings, "bousai01")
    await replace_directory(bot.runtime.engine, parse_directory(
        "user_id,name,department,roles\nstaff01,職員 花子,市民課,\n".encode()))
    async with bot.session.get(bot.url("/api/me"), headers={"Authorization": f"Bearer {bousai}"}) as resp:
        assert resp.status == 401


def run_cli(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "CHONAI_DATA_DIR": str(data_dir), **env}
    full.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=full, capture_output=True,
                          text=True, timeout=120, cwd=data_dir.parent)


def test_tokens_only_for_staff_in_the_directory(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "staff.csv").write_bytes(DIRECTORY)
    assert run_cli("staff", "import", str(tmp_path / "staff.csv"), data_dir=data).returncode == 0
    refused = run_cli("staff", "token", "nobody", data_dir=data)
    assert refused.returncode == 1 and "職員名簿にいません" in refused.stderr
    issued = run_cli("staff", "token", "staff01", "--base-url", "https://chonai.example.lg.jp",
                     data_dir=data)
    assert issued.returncode == 0
    assert issued.stdout.startswith("https://chonai.example.lg.jp/signin?code=")


# -- poison input ----------------------------------------------------------------------------
async def test_poison_in_the_talk_room_is_a_4xx(bot):
    path = "/api/rooms/general/messages"
    json_type = {"Content-Type": "application/json"}
    surrogate = b'{"user": "u", "text": "/draft \\ud800 \\udfff"}'
    deep = b'{"user": "u", "text": "/help", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    wrong_type = b'{"user": null, "text": 5}'
    for body in (surrogate, deep, wrong_type, b"\xff\xfe", b"[]"):
        assert await raw_post(bot, path, body, **json_type) == 400, body[:40]
    assert bot.runtime.store.head()[0] == 0 and await bot.messages("general") == []
    assert await refused_count(bot, "poison_input") >= 5


async def test_poison_on_the_relay_is_a_4xx(relayed):
    deep = ('{"platform": "logochat", "room": "r", "user": "u", "id": "d", "text": "/help", "x": '
            + "[" * 5000 + "]" * 5000 + "}").encode()
    bodies = [deep,
              json.dumps({"platform": "logochat", "room": "r", "user": "u", "id": "s",
                          "text": "/draft \ud800"}).encode(),
              json.dumps({"platform": "logochat", "room": "r", "user": "u", "text": "/help"}).encode()]
    for body in bodies:
        status = await raw_post(relayed, "/webhook/inbound", body, **{
            "Content-Type": "application/json", **signing.headers(SECRET, body)})
        assert status == 400
    body = bodies[2]
    headers = {"Content-Type": "application/json", "X-Chonai-Timestamp": str(int(time.time())),
               "X-Chonai-Signature": "sha256=ｘｙｚ"}
    assert await raw_post(relayed, "/webhook/inbound", body, **headers) == 401
    assert relayed.runtime.store.head()[0] == 0


async def test_poison_on_the_status_webhook_is_a_4xx(start_bot):
    bot = await start_bot(status_secret="s3cret")

    async def post(payload: bytes, **override: str) -> int:
        headers = {"Content-Type": "application/json", **signing.headers("s3cret", payload), **override}
        return await raw_post(bot, "/api/status", payload, **headers)

    good = {"receipt_no": "R7-000001", "procedure": "児童手当", "status": "受付",
            "updated_at": "2026-11-20T10:00:00+09:00"}
    assert await post(json.dumps({**good, "status": None}).encode()) == 422
    assert await post(json.dumps({**good, "receipt_no": 12}).encode()) == 422
    assert await post(json.dumps({**good, "procedure": "あ" * 140_000}).encode()) == 413
    assert await post(json.dumps(good).encode(), **{"X-Chonai-Signature": "sha256=é"}) == 401
    assert bot.runtime.store.read(0, types=["status.changed"]) == []
    assert await post(json.dumps(good).encode()) == 202


async def test_non_ascii_slack_signature_is_401(start_bot):
    bot = await start_bot(slack_bot_token="xoxb-test", slack_signing_secret="secret")
    body = b"token=x&command=%2Fhelp&text=&user_id=U1&channel_id=C1"
    status = await raw_post(bot, "/slack/events", body, **{
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=ä"})
    assert status == 401
    assert bot.runtime.store.head()[0] == 0


# -- files, exports, the command line ------------------------------------------------------
def test_data_directory_and_files_are_private(tmp_path):
    data = tmp_path / "data"
    assert run_cli("migrate", data_dir=data).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    from bot.cli import tighten_data_dir
    from bot.config import Settings

    os.chmod(data, 0o755)
    os.chmod(data / "chonai.db", 0o644)
    link = tmp_path / "link"
    link.symlink_to(data)
    tighten_data_dir(Settings(data_dir=str(link)))  # reached through a symlink
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "chonai.db").stat().st_mode) == 0o600


def test_every_csv_we_write_is_safe_in_excel():
    from commands.cli_support import write_csv

    out = io.StringIO()
    write_csv(["name", "note"], [["=HYPERLINK(\"http://evil\")", "+1+2"], ["@SUM(A1)", "-3"],
                                 ["\tx", "普通の値"]], out)
    text = out.getvalue()
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1] == ["'=HYPERLINK(\"http://evil\")", "'+1+2"]
    assert rows[2] == ["'@SUM(A1)", "'-3"] and rows[3] == ["'\tx", "普通の値"]


def test_importers_name_the_line_of_an_oversized_cell(tmp_path):
    big = tmp_path / "staff.csv"
    big.write_text("user_id,name,department,roles\nu1,名前,課,\nu2," + "あ" * 140_000 + ",課,\n",
                   encoding="utf-8")
    result = run_cli("staff", "import", str(big), data_dir=tmp_path / "data")
    assert result.returncode == 1 and "3行目" in result.stderr and "Traceback" not in result.stderr


def test_read_only_commands_create_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    for args in (("verify",), ("events",), ("broadcast", "status")):
        result = run_cli(*args, data_dir=missing)
        assert result.returncode == 1 and "見つかりません" in result.stderr, args
        assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_a_partial_lineworks_configuration_stops_run_with_one_line(tmp_path):
    result = run_cli("run", "--port", "0", data_dir=tmp_path / "data",
                     LINEWORKS_BOT_ID="b", LINEWORKS_BOT_SECRET="s", LINEWORKS_CLIENT_ID="c",
                     LINEWORKS_CLIENT_SECRET="cs", LINEWORKS_SERVICE_ACCOUNT="sa")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "LINEWORKS_PRIVATE_KEY" in last and "Traceback" not in result.stderr


def test_layers_are_kept():
    import shutil

    command = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([command, "--config", str(ROOT / ".importlinter")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout
