"""What a new user meets first: Japanese help, Excel's files, clear start-up errors, and
answers that fit what was asked."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys

import pytest

from commands.kpi_data import parse_kpi_csv
from commands.staff import DirectoryError, parse_directory
from commands.status import parse_procedures, parse_statuses


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=full, capture_output=True,
                          text=True, timeout=timeout)


def test_help_is_japanese_with_columns_and_an_example():
    top = run_cli("--help")
    assert top.returncode == 0 and "使い方: chonai" in top.stdout and "ボットを起動する" in top.stdout
    assert "show this help" not in top.stdout and "positional arguments" not in top.stdout
    staff = run_cli("staff")  # the group alone: its own help
    assert "職員名簿" in staff.stdout and "import" in staff.stdout and "token" in staff.stdout
    importer = run_cli("staff", "import", "--help")
    assert "職員ID" in importer.stdout and "例の行:" in importer.stdout and "broadcaster" in importer.stdout
    for group in ("status", "procedures", "kpi"):
        text = run_cli(group, "import", "--help").stdout
        assert "列:" in text and "例の行:" in text, group
    wrong = run_cli("staff", "import")
    assert wrong.returncode == 2 and "入力に誤りがあります" in wrong.stderr


STAFF_JA = "職員ID,氏名,所属,役割\nbousai01,防災 太郎,危機管理課,broadcaster\nstaff01,市民 花子,市民課,\n"


def test_excel_csv_in_cp932_with_japanese_headers():
    rows = parse_directory(STAFF_JA.encode("cp932"))
    assert [r["user_id"] for r in rows] == ["bousai01", "staff01"] and rows[0]["roles"] == ["broadcaster"]
    assert parse_directory(("\ufeff" + STAFF_JA).encode("utf-8")) == rows  # UTF-8 with BOM
    procedures = parse_procedures("手続き,オンライン,方法,URL,備考\n転入届,いいえ,窓口,,\n住民票,はい,LoGoフォーム,,\n"
                                  "印鑑登録,×,窓口,,\n".encode("cp932"))
    assert [p["online"] for p in procedures] == [False, True, False]
    statuses = parse_statuses("受付番号,手続き,状況,更新日時\nR7-1,児童手当,受付,2026-11-05T09:12:00+09:00\n"
                              .encode("cp932"))
    assert statuses[0]["receipt_no"] == "R7-1"
    kpi = parse_kpi_csv("指標,期間,実績,目標\n電子決裁率,2026-11,61%,80%\n".encode("cp932"))
    assert kpi[0]["value"] == 61
    with pytest.raises(DirectoryError) as caught:
        parse_directory(b"\xff\xfe\x00\x81\xff" * 10)
    assert "文字コード" in str(caught.value)


def test_xlsx_is_read_directly():
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in [["職員ID", "氏名", "所属", "役割"], ["bousai01", "防災 太郎", "危機管理課", "broadcaster"]]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    [person] = parse_directory(buffer.getvalue())
    assert person["user_id"] == "bousai01" and person["department"] == "危機管理課"


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


@pytest.mark.parametrize("case", ["port", "database", "redis"])
def test_start_up_errors_are_one_japanese_line(tmp_path, case):
    env = {"CHONAI_DATA_DIR": str(tmp_path / "data")}
    holder = None
    port = "0"
    if case == "port":
        holder = _busy_port()
        port = str(holder.getsockname()[1])
    elif case == "database":
        env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    else:
        env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        result = run_cli("run", "--port", port, env=env)
    finally:
        if holder:
            holder.close()
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    expected = {"port": port, "database": "DATABASE_URL", "redis": "REDIS_URL"}[case]
    assert expected in last and ("ポート" in last or "接続できません" in last), last


async def test_draft_templates_fit_the_occasion(bot):
    await bot.say("general", "staff01", "/draft あいさつ文 新年度の職員向け")
    greeting = await bot.wait_for("general", "staff01", lambda m: "ひな形" in m["text"])
    assert "新年度" in greeting["text"] and "異動" not in greeting["text"]
    await bot.say("general", "staff01", "/draft 【宛先】様への謝罪文（書類の送付漏れ）")
    apology = await bot.wait_for("general", "staff01", lambda m: "［謝罪文］" in m["text"])
    assert "お詫び" in apology["text"]


async def test_a_redacted_request_keeps_its_kind(start_bot):
    from tests.openai_standin import OpenAIStandIn

    ai = await OpenAIStandIn().start()
    try:
        bot = await start_bot(openai_base_url=ai.base_url, openai_api_key="sk-test")
        await bot.say("general", "staff01", "/draft 謝罪文 山田太郎様への書類紛失のお詫び")
        notice = await bot.wait_for("general", "staff01", lambda m: "送信していません" in m["text"])
        await bot.press("general", "staff01", notice, "draft.send_redacted", notice["buttons"][0]["value"])
        await bot.wait_for("general", "staff01", lambda m: "［謝罪文］" in m["text"])
        assert "お詫び" in ai.requests[0]["messages"][0]["content"]
    finally:
        await ai.close()


async def test_ask_without_documents_explains_how_to_import_them(bot):
    await bot.say("general", "staff01", "/ask 転入届の期限は？")
    reply = await bot.wait_for("general", None, lambda m: "chonai docs import" in m["text"])
    assert "登録されていません" in reply["text"]
