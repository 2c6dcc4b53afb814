"""/draft and /ask end to end through the talk room, against a local OpenAI stand-in."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.openai_standin import OpenAIStandIn

NAME, PHONE = "山田太郎", "090-1234-2293"


@pytest.fixture
async def ai():
    stand_in = await OpenAIStandIn().start()
    yield stand_in
    await stand_in.close()


@pytest.fixture
async def drafting(start_bot, ai):
    return await start_bot(openai_base_url=ai.base_url, openai_api_key="sk-test",
                           openai_timeout=1.0)


def raw_storage(bot) -> bytes:
    data_dir = Path(bot.runtime.settings.data_dir)
    return b"".join(p.read_bytes() for p in data_dir.glob("chonai.db*"))


async def test_prompt_with_personal_data_never_reaches_the_ai(drafting, ai, caplog):
    caplog.set_level(logging.DEBUG)
    await drafting.say("general", "staff01", f"/draft メール文 {NAME}さん（{PHONE}）への返信を書いて")
    notice = await drafting.wait_for("general", "staff01", lambda m: "AI には送信していません" in m["text"])
    assert ai.requests == []
    assert notice["private_to"] == "staff01"
    assert "電話番号（" in notice["text"] and "氏名（" in notice["text"]
    # Nothing of the value is shown: no digit group, no first character.
    for part in ("090", "1234", "2293", "山", "太郎"):
        assert part not in notice["text"].split("\n", 1)[1].split("個人情報を消して")[0]
    # The room shows the redacted request; others do not see the notice.
    shown = [m["text"] for m in await drafting.messages("general")]
    assert all(PHONE not in t and NAME not in t for t in shown)

    for _ in range(2):  # a double click: one request to the AI
        status, _ = await drafting.press("general", "staff01", notice, "draft.send_redacted",
                                         notice["buttons"][0]["value"])
        assert status == 202
    reply = await drafting.wait_for("general", "staff01", lambda m: "生成AIによる下書き" in m["text"])
    await drafting.settle()
    assert len(ai.requests) == 1
    assert "【氏名】" in ai.prompts() and "【電話番号】" in ai.prompts()
    assert PHONE not in ai.prompts() and NAME not in ai.prompts()
    assert reply["private_to"] == "staff01"
    await drafting.settle()
    storage = raw_storage(drafting)
    assert PHONE.encode() not in storage and NAME.encode() not in storage
    logs = caplog.text
    assert PHONE not in logs and NAME not in logs
    [blocked] = drafting.runtime.store.read(0, types=["draft.blocked"])
    assert blocked.payload["kinds"] == {"PERSON": 1, "PHONE": 1}


async def test_nothing_of_a_blocked_value_reaches_the_disk_or_the_logs(start_bot, ai, caplog):
    from stdnum.jp import in_ as individual_number

    caplog.set_level(logging.DEBUG)
    drafting = await start_bot(openai_base_url=ai.base_url, openai_api_key="sk-test", pii_key="")
    my_number = "73194862051" + individual_number.calc_check_digit("73194862051")
    prompt = (f"/draftメール文 マイナンバー{my_number} の KOBAYASHI Ren さん（携帯 090.7319.4862）"
              "と 柏木千尋様への返信")
    await drafting.say("general", "staff01", prompt)
    notice = await drafting.wait_for("general", "staff01", lambda m: "AI には送信していません" in m["text"])
    await drafting.settle()
    assert ai.requests == []
    data_dir = Path(drafting.runtime.settings.data_dir)
    assert not (data_dir / "pii.key").exists()
    stored = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    texts = [stored.decode("utf-8", "replace"), caplog.text, notice["text"]]
    for part in (my_number, my_number[:4], my_number[-4:], "090.", ".7319.", ".4862", "7319.4862",
                 "KOBAYASHI", "Ren さん", "柏木", "千尋", "****"):
        assert not any(part in text for text in texts), part
    [event] = drafting.runtime.store.read(0, types=["incoming.received"])
    assert set(event.payload["pii"][0]) == {"type", "start", "end"}  # no hash without a key


@pytest.mark.parametrize("typed", ["/draftメール文 山田太郎さんへの返信", "/draft\u3000メール文 山田太郎さんへの返信",
                                   "/darft メール文 山田太郎さんへの返信"])
async def test_commands_typed_as_people_type_them_pass_the_guard(drafting, ai, typed):
    await drafting.say("general", "staff01", typed)
    if typed.startswith("/darft"):
        hint = await drafting.wait_for("general", "staff01", lambda m: "/draft のことですか" in m["text"])
        assert hint["private_to"] == "staff01"
    else:
        await drafting.wait_for("general", "staff01", lambda m: "AI には送信していません" in m["text"])
    await drafting.settle()
    assert "山田".encode() not in raw_storage(drafting)
    assert ai.requests == []


async def test_someone_else_cannot_press_the_owner_buttons(drafting, ai):
    await drafting.say("general", "staff01", f"/draft {NAME}さんへのお礼状")
    notice = await drafting.wait_for("general", "staff01", lambda m: "送信していません" in m["text"])
    status, _ = await drafting.press("general", "staff02", notice, "draft.send_redacted",
                                     notice["buttons"][0]["value"])
    assert status == 403
    assert ai.requests == []


async def test_clean_prompt_comes_back_labelled_and_can_be_posted(drafting, ai):
    ai.reply = "4月1日付で異動となりました。お世話になりました。"
    await drafting.say("general", "staff01", "/draft あいさつ文 異動のあいさつを短く")
    reply = await drafting.wait_for("general", "staff01", lambda m: "異動となりました" in m["text"])
    assert "※生成AIによる下書きです" in reply["text"]
    assert ai.requests[0]["messages"][1]["content"] == "異動のあいさつを短く"
    assert "あいさつ文" in ai.requests[0]["messages"][0]["content"]
    post = next(b for b in reply["buttons"] if b["action_id"] == "draft.post")
    first, _ = await drafting.press("general", "staff01", reply, "draft.post", post["value"])
    second, _ = await drafting.press("general", "staff01", reply, "draft.post", post["value"])
    assert first == 202 and second in (202, 400)  # a double click: refused by the page or the bot
    if second == 202:
        await drafting.wait_for("general", "staff01", lambda m: "すでにルームに投稿" in m["text"])
    public = await drafting.wait_for("general", None, lambda m: "作成した下書き" in m["text"])
    assert "※生成AIによる下書きです" in public["text"] and public["private_to"] is None
    await drafting.settle()
    # The private draft no longer offers the button; a press from a stale view changes nothing.
    [card] = [m for m in await drafting.messages("general", "staff01") if "ルームに投稿しました" in m["text"]]
    assert not any(b["action_id"] == "draft.post" for b in card["buttons"])
    status, _ = await drafting.press("general", "staff01", reply, "draft.post", post["value"])
    assert status == 400
    posted = [m for m in await drafting.messages("general") if "作成した下書き" in m["text"]]
    assert len(posted) == 1
    await drafting.settle()
    [use] = drafting.runtime.store.read(0, types=["draft.completed"])
    assert use.payload["kind"] == "あいさつ文" and use.payload["prompt_tokens"] == 42


async def test_ai_output_is_scanned_before_posting(drafting, ai):
    ai.reply = "担当は鈴木一郎です。携帯 080-9999-8888 までご連絡ください。"
    await drafting.say("general", "staff01", "/draft 周知文 説明会のお知らせ")
    reply = await drafting.wait_for("general", "staff01", lambda m: "伏せ字" in m["text"])
    assert "080-9999-8888" not in reply["text"] and "【電話番号】" in reply["text"]


async def test_hanging_endpoint_gets_a_clear_message(drafting, ai):
    ai.mode = "hang"
    await drafting.say("general", "staff01", "/draft 要約 会議の要点をまとめて")
    reply = await drafting.wait_for("general", "staff01", lambda m: "時間内" in m["text"], timeout=30)
    assert "もう一度お試しください" in reply["text"]
    # The worker is free again: the next request is answered.
    ai.mode = "ok"
    await drafting.say("general", "staff01", "/help")
    await drafting.wait_for("general", None, lambda m: "/draft" in m["text"])


async def test_no_endpoint_answers_from_a_template(bot):
    await bot.say("general", "staff01", "/draft メール文 会議の日程調整")
    reply = await bot.wait_for("general", "staff01", lambda m: "ひな形" in m["text"])
    assert "【" in reply["text"] and "AI は使っていません" in reply["text"]


async def test_role_restriction(start_bot, ai):
    bot = await start_bot(openai_base_url=ai.base_url, draft_role="ai_user")
    await bot.say("general", "staff01", "/draft あいさつ文 着任のあいさつ")
    reply = await bot.wait_for("general", "staff01", lambda m: "権限" in m["text"])
    assert reply["private_to"] == "staff01" and ai.requests == []
    await bot.settle()
    assert bot.runtime.store.read(0, types=["draft.refused"])


async def test_usage_report(drafting, ai, tmp_path):
    await drafting.say("general", "staff01", "/draft あいさつ文 着任のあいさつ")
    await drafting.say("general", "staff02", f"/draft 電話 {PHONE} の方への案内")
    await drafting.settle()
    month = drafting.runtime.store.read(0)[0].time.astimezone().strftime("%Y-%m")
    env = {**os.environ, "CHONAI_DATA_DIR": drafting.runtime.settings.data_dir}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "bot.cli", "usage", "report", "--month", month],
                         env=env, capture_output=True, text=True, timeout=120).stdout
    # One AI call; the blocked request never reached the AI and is counted apart.
    assert "AI 利用: 1 件" in out and "PHONE 1件" in out and "あいさつ文 1件" in out
    assert "個人情報でブロック 1件" in out
    csv_out = subprocess.run([sys.executable, "-m", "bot.cli", "usage", "report", "--month", month,
                              "--csv"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert csv_out.startswith("\ufeff")  # a BOM, so Excel reads the Japanese
    assert csv_out.splitlines()[0].lstrip("\ufeff").startswith("time,user,department,purpose")
    assert len(csv_out.splitlines()) == 3


DOC = """# 転入届

転入届は、引っ越しの日から14日以内に市民課の窓口へ提出してください。

# 粗大ごみ

粗大ごみは事前の申込みが必要です。
"""


async def _with_documents(bot, tmp_path):
    from commands.docs import import_documents

    (tmp_path / "規程.md").write_text(DOC, encoding="utf-8")
    await import_documents(bot.runtime.engine, [str(tmp_path / "規程.md")], departments=[],
                           roles=[])


async def test_ask_answers_from_documents_with_sources(drafting, ai, tmp_path):
    await _with_documents(drafting, tmp_path)
    ai.reply = "引っ越しの日から14日以内です [1]。"
    await drafting.say("general", "staff01", "@chonai てんにゅうの届出はいつまで？")
    reply = await drafting.wait_for("general", None, lambda m: "出典" in m["text"])
    assert "規程「転入届」" in reply["text"] and "生成AI" in reply["text"]
    assert "14日以内に市民課の窓口" in ai.prompts()  # the passage went to the AI
    await drafting.say("general", "staff01", "/ask 今日の天気はどうですか")
    honest = await drafting.wait_for("general", None, lambda m: "見つかりませんでした" in m["text"])
    assert honest


async def test_ask_without_ai_is_extractive(bot, tmp_path):
    await _with_documents(bot, tmp_path)
    await bot.say("general", "staff01", "/ask 粗大ゴミの申し込みは必要？")
    reply = await bot.wait_for("general", None, lambda m: "AIを使わず" in m["text"])
    assert "事前の申込みが必要" in reply["text"] and "規程「粗大ごみ」" in reply["text"]


async def test_ask_with_personal_data_is_blocked_before_retrieval(drafting, ai, tmp_path):
    await _with_documents(drafting, tmp_path)
    await drafting.say("general", "staff01", f"/ask {NAME}さん（{PHONE}）の転入届は？")
    reply = await drafting.wait_for("general", "staff01", lambda m: "送信していません" in m["text"])
    assert reply["private_to"] == "staff01" and ai.requests == []
