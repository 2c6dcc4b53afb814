"""/broadcast: a disaster-time notice to all staff with per-person receipts, reminders and
live tallies.

Sending fans out one outbox post per recipient in ONE append whose events carry idempotency
keys derived from the broadcast, so a second 送信, a retry or a crash can never message
anybody twice; each recipient's answers live in a stream of their own, so a repeated press
is recognised against the log itself.
"""

from __future__ import annotations

import asyncio
import re
import statistics
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commands.context import Context, Services
from commands.registry import action, command, on_read
from handlers.messages import Button, Outbound
from store import broadcasts as table
from store.broadcasts import QUESTION_OF, QUESTIONS, BroadcastProjection
from store.events import NewEvent, parse_time
from store.staff import find_person, has_role, people

PROJECTIONS = [BroadcastProjection()]
SAFETY = [*QUESTIONS["safety"], *QUESTIONS["attendance"]]  # two questions, one card
QUESTION_LABELS = {"safety": "安否", "attendance": "参集"}
SENSITIVE = ("軽傷", "重傷・要救助")  # 要配慮個人情報: names with these go to broadcasters only
UPDATE_PRIORITY = 9  # card updates never delay notices (1), reminders (2) or drills (8)
CARDS_WHILE_BUSY = 100  # card updates per round while answers are pouring in (the rest follow)
PENDING_NAMES = 20
READ_ONLY = ["確認しました"]
DEFAULT_REMINDERS = [10, 30]
STATUS_EVERY = 5.0  # seconds between in-place updates of the sender's status message
USAGE = "/broadcast [訓練] [安否] [部署:防災課,福祉課] [催促:10,30] [全体投稿:ルーム名] 本文"


def _engine(ctx: Context):
    return ctx.services.get("engine")


def parse_options(text: str) -> tuple[dict[str, Any], str]:
    """Leading option words, then the body."""
    options: dict[str, Any] = {"drill": False, "answers": READ_ONLY, "departments": [],
                               "reminders": DEFAULT_REMINDERS, "room": None}
    words = text.replace("\u3000", " ").split(" ")
    while words:
        word = words[0]
        if word in ("訓練", "【訓練】"):
            options["drill"] = True
        elif word == "安否":
            options["answers"] = SAFETY
        elif word == "既読":
            options["answers"] = READ_ONLY
        elif m := re.fullmatch(r"(?:部署|対象)[:：](.+)", word):
            options["departments"] = [d for d in re.split(r"[,、，]", m.group(1)) if d]
        elif m := re.fullmatch(r"催促[:：]([\d,、，]+|なし)", word):
            options["reminders"] = [] if m.group(1) == "なし" else sorted(
                {int(x) for x in re.split(r"[,、，]", m.group(1)) if x})
        elif m := re.fullmatch(r"回答[:：](.+)", word):
            options["answers"] = [a for a in re.split(r"[/／,、]", m.group(1)) if a][:8]
        elif m := re.fullmatch(r"全体投稿(?:[:：](.+))?", word):
            options["room"] = m.group(1) or ""
        elif word == "":
            pass
        else:
            break
        words.pop(0)
    return options, " ".join(words).strip()


@command("broadcast", order=20)
async def broadcast(ctx: Context) -> None:
    """全職員への一斉連絡と、既読・安否の確認をします（送信できるのは broadcaster の役割の人）。
    /broadcast [訓練] [安否] [部署:防災課] [催促:10,30] 本文　／ /broadcast status [ID] ／ /broadcast close ID"""
    engine = _engine(ctx)
    sender = find_person(engine, ctx.identity_platform, ctx.user)
    first, _, rest = ctx.args.strip().partition(" ")
    if first in ("status", "状況"):
        await _status_command(ctx, rest.strip())
        return
    if not has_role(sender, "broadcaster"):
        ctx.reply("一斉連絡を送る権限がありません。災害対策本部（broadcaster の役割）の職員に依頼してください。",
                  private=True)
        ctx.emit("broadcast.refused", {"user": ctx.user, "reason": "not a broadcaster"},
                 f"broadcast:refused:{ctx.event.position}")
        return
    if first in ("close", "終了"):
        await _close(ctx, rest.strip())
        return
    options, body = parse_options(ctx.args)
    if not body:
        ctx.reply(f"本文を書いてください。使い方: {USAGE}", private=True)
        return
    targets = people(engine, options["departments"] or None)
    if not targets:
        ctx.reply("送信先の職員がいません。部署名を確認するか、職員名簿を取り込んでください"
                  "（chonai staff import）。", private=True)
        return
    bid = ctx.event.position
    mode = "room" if options["room"] is not None else "dm"
    options = {**options, "mode": mode, "room": options["room"] or ctx.room}
    ctx.emit("broadcast.prepared", {
        "id": bid, "sender": ctx.user, "platform": ctx.platform, "room": ctx.room,
        "body": body, "options": options,
        "targets": [{"user_id": p.user_id, "department": p.department,
                     "platform_user": p.id_on(ctx.identity_platform)} for p in targets]},
        f"broadcast:{bid}")
    departments = sorted({p.department for p in targets})
    how = f"ルーム「{options['room']}」への全体投稿" if mode == "room" else "一人ずつ個別メッセージ"
    preview = (f"【送信前の確認】{'【訓練】' if options['drill'] else ''}\n{body}\n\n"
               f"送信先: {len(targets)} 人（{'、'.join(departments[:8])}{' ほか' if len(departments) > 8 else ''}）\n"
               f"送り方: {how}\n回答: {' / '.join(options['answers'])}\n"
               f"催促: {('、'.join(f'{m}分後' for m in options['reminders'])) or 'なし'}\n"
               f"まだ送信していません。内容を確認して「送信」を押してください。（ID {bid}）")
    ctx.reply(preview, private=True, ref=f"broadcast:{bid}:preview", buttons=[
        Button("送信", "broadcast.send", str(bid), "primary"),
        Button("取消", "broadcast.cancel", str(bid), "danger")])


def questions(item: dict[str, Any]) -> dict[str, list[str]]:
    """The questions a broadcast asks: {"safety": [...], "attendance": [...]} for 安否, else one
    question ("answer") with its choices."""
    answers = item["options"]["answers"]
    asked = {q: [a for a in answers if QUESTION_OF.get(a) == q] for q in QUESTIONS}
    asked = {q: a for q, a in asked.items() if a}
    if asked and all(QUESTION_OF.get(a) for a in answers):
        return asked
    return {"answer": list(answers)}


def _notice_text(item: dict[str, Any]) -> str:
    drill = "【訓練】" if item["options"]["drill"] else ""
    asked = questions(item)
    if len(asked) > 1:
        how = "、".join(f"{QUESTION_LABELS.get(q, q)}（{'／'.join(a)}）" for q, a in asked.items())
        ask = f"{how}をそれぞれ下のボタンで回答してください。"
    else:
        ask = "下のボタンで回答してください。"
    return f"{drill}{item['body']}\n\n{ask}（一斉連絡 ID {item['id']}）"


def _answer_buttons(item: dict[str, Any]) -> list[Button]:
    # All alike: no choice may look pre-selected.
    return [Button(a, "broadcast.answer", f"{item['id']}|{a}") for a in item["options"]["answers"]]


@action("broadcast.send")
async def send(ctx: Context) -> None:
    await _decide(ctx, send=True)


@action("broadcast.cancel")
async def cancel(ctx: Context) -> None:
    await _decide(ctx, send=False)


async def _decide(ctx: Context, *, send: bool) -> None:
    engine = _engine(ctx)
    try:
        bid = int(ctx.args)
    except ValueError:
        return
    item = await asyncio.to_thread(table.get, engine, bid)
    presser = await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user)
    proposed = item is not None and item["sender"] == "jma" and has_role(presser, "broadcaster")
    if item is None or (item["sender"] != ctx.user and not proposed):
        ctx.reply("この一斉連絡を操作できるのは、作成した本人（自動提案は broadcaster の職員）だけです。",
                  private=True)
        return
    store = ctx.services.store
    if not send:
        [done] = await store.append(NewEvent("broadcast.cancelled", f"broadcast:{bid}",
                                             {"id": bid}, actor=ctx.user, platform=ctx.platform,
                                             causation_id=str(ctx.event.position),
                                             idempotency_key=f"broadcast:{bid}:decided"))
        if done.type == "broadcast.cancelled" and done.causation_id == str(ctx.event.position):
            _close_card(ctx, bid, f"【取り消し済み】一斉連絡 {bid} は送信していません。")
        else:
            ctx.reply("この一斉連絡はすでに送信済みか、取り消されています。", private=True)
        return
    recipients = await asyncio.to_thread(table.recipients, engine, bid)
    if not await fan_out(store, item, recipients, actor=ctx.user,
                         causation=str(ctx.event.position)):
        ctx.reply("この一斉連絡はすでに送信済みか、取り消されています。", private=True)
        return
    _close_card(ctx, bid, f"【送信済み】一斉連絡 {bid} を {len(recipients)} 人に送りました。"
                          f"状況は /broadcast status {bid} で確認できます。")
    ctx.post(item["room"], _status_text(item, recipients), ref=f"broadcast:{bid}:status",
             platform=item["platform"])


def _close_card(ctx: Context, bid: int, text: str) -> None:
    """The card whose button was pressed loses its 送信／取消 buttons (replaced in place: the
    talk room edits it, Slack through the press's response_url), so nobody presses again."""
    pressed = (ctx.incoming.reply or {}).get("ref")  # the card pressed (a JMA proposal has its own)
    ctx.reply(text, private=True, ref=pressed or f"broadcast:{bid}:preview", update=True)


async def fan_out(store, item: dict[str, Any], recipients: list[dict[str, Any]], *, actor: str,
                  causation: str) -> bool:
    """Send a prepared broadcast: False if it was already decided (sent or cancelled).

    First the decision (one per broadcast, whoever presses), then the posts. A crash in
    between re-runs this for the same cause: the decision is still ours, and the posts'
    keys make the fan-out happen once."""
    bid = item["id"]
    [decided] = await store.append(NewEvent(
        "broadcast.sent", f"broadcast:{bid}", {"id": bid, "targets": len(recipients)},
        actor=actor, platform=item["platform"], causation_id=causation,
        idempotency_key=f"broadcast:{bid}:decided"))
    if decided.type != "broadcast.sent" or decided.causation_id != causation:
        return False
    priority = 8 if item["options"]["drill"] else 1  # a drill never delays a real notice
    if item["options"]["mode"] == "room":
        posts = [Outbound(item["platform"], item["options"]["room"], "@channel " + _notice_text(item),
                          tuple(_answer_buttons(item)), ref=f"broadcast:{bid}:room",
                          priority=priority)]
    else:
        posts = [Outbound(item["platform"], f"dm:{r['platform_user']}", _notice_text(item),
                          tuple(_answer_buttons(item)), ref=f"broadcast:{bid}:{r['user_id']}",
                          priority=priority) for r in recipients]
    await store.append(*(NewEvent("outbound.requested", f"outbox:{p.platform}:{p.room}",
                                  p.to_payload(), actor=actor, platform=p.platform,
                                  causation_id=str(bid), idempotency_key=f"broadcast:{bid}:post:{i}")
                         for i, p in enumerate(posts)))
    return True


@action("broadcast.answer")
async def answer(ctx: Context) -> None:
    bid_text, _, choice = ctx.args.partition("|")
    engine = _engine(ctx)
    try:
        bid = int(bid_text)
    except ValueError:
        return
    item, person = await asyncio.to_thread(table.item_and_recipient, engine, bid, ctx.user)
    if item is None or person is None or choice not in item["options"]["answers"]:
        ctx.reply("この一斉連絡の回答先に登録されていません。", private=True)
        return
    await _record_answer(ctx, item, person, choice)


async def _record_answer(ctx: Context, item: dict[str, Any], person: dict[str, Any],
                         choice: str) -> None:
    stream = f"broadcast:{item['id']}:{person['user_id']}"
    history = await asyncio.to_thread(ctx.services.store.stream, stream)
    given = [(e.payload["answer"], e.occurred_at) for e in history if e.type == "broadcast.answered"]
    question = _question_of(item, choice)
    same_question = [a for a, _ in given if _question_of(item, a) == question]
    if same_question and same_question[-1] == choice:
        return  # the same answer again: nothing changes
    ctx.emit("broadcast.answered", {"id": item["id"], "user_id": person["user_id"],
                                    "answer": choice, "department": person["department"],
                                    "question": question},
             stream, expected_version=len(history))
    if item["options"]["mode"] != "dm":
        ctx.reply(f"回答「{choice}」を受け付けました。ありがとうございます。", private=True)
    # In DM mode the card itself shows the answer: updated by run_due_work, off the click path.


def _question_of(item: dict[str, Any], answer: str) -> str:
    return QUESTION_OF.get(answer, "answer") if len(questions(item)) > 1 else "answer"


def _answered_text(item: dict[str, Any], receipt: dict[str, Any], tz: str) -> str:
    """The notice with what this person answered, and when (their latest answer)."""
    answers = _latest_answers(item, receipt)
    parts = [answers.get(q) or f"{QUESTION_LABELS.get(q, '')}は未回答" for q in questions(item)]
    at = parse_time(receipt["latest_at"]).astimezone(ZoneInfo(tz)).strftime("%H:%M")
    return (f"{_notice_text(item)}\n\n回答済み：{'／'.join(parts)}（{at}）"
            "\n（変更するときは、もう一度ボタンを押してください）")


def card_updates(item: dict[str, Any], recipients: list[dict[str, Any]], tz: str,
                 shown: dict[tuple[int, str], str], limit: int | None = None) -> list[NewEvent]:
    """Each answered card updated in place to show the answer, once per answer (a key per
    person and answer time, so two instances or a restart never update twice), at the lowest
    priority: 10,000 presses never queue before a notice or a reminder."""
    if item["options"]["mode"] != "dm":
        return []
    events = []
    for r in recipients:
        if not r.get("latest_at") or shown.get((item["id"], r["user_id"])) == r["latest_at"]:
            continue
        if limit is not None and len(events) >= limit:
            break  # while clicks pour in, a few per round; the next rounds catch up
        shown[(item["id"], r["user_id"])] = r["latest_at"]
        out = Outbound(item["platform"], f"dm:{r['platform_user']}", _answered_text(item, r, tz),
                       tuple(_answer_buttons(item)), ref=f"broadcast:{item['id']}:{r['user_id']}",
                       update=True, priority=UPDATE_PRIORITY)
        events.append(NewEvent("outbound.requested", f"outbox:{out.platform}:{out.room}",
                               out.to_payload(), platform=out.platform,
                               idempotency_key=f"broadcast:{item['id']}:card:{r['user_id']}:{r['latest_at']}"))
    return events


@on_read
async def read(ctx: Context) -> None:
    ref = (ctx.incoming.reply or {}).get("ref") or ""
    match = re.fullmatch(r"broadcast:(\d+):(.+)", ref)
    if not match or match.group(2) in ("status", "room"):
        return
    bid, user_id = int(match.group(1)), match.group(2)
    person = await asyncio.to_thread(table.recipient, _engine(ctx), bid, ctx.user)
    if person is None or person["user_id"] != user_id:
        return
    stream = f"broadcast:{bid}:{user_id}"
    history = await asyncio.to_thread(ctx.services.store.stream, stream)
    if not any(e.type == "broadcast.read" for e in history):
        ctx.emit("broadcast.read", {"id": bid, "user_id": user_id}, stream,
                 expected_version=len(history))


async def _close(ctx: Context, text: str) -> None:
    item = await asyncio.to_thread(table.get, _engine(ctx), int(text) if text.isdigit() else None)
    if item is None or item["status"] != "sent":
        ctx.reply("終了できる一斉連絡が見つかりません。/broadcast status で ID を確認してください。",
                  private=True)
        return
    ctx.emit("broadcast.closed", {"id": item["id"]}, f"broadcast:{item['id']}")
    ctx.reply(f"一斉連絡 {item['id']} を終了しました。催促は送りません。", private=True)


async def _status_command(ctx: Context, text: str) -> None:
    engine = _engine(ctx)
    item = await asyncio.to_thread(table.get, engine, int(text) if text.isdigit() else None)
    if item is None:
        ctx.reply("一斉連絡はまだありません。", private=True)
        return
    recipients = await asyncio.to_thread(table.recipients, engine, item["id"])
    asker = await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user)
    if not has_role(asker, "broadcaster"):
        ctx.reply(_status_text(item, recipients), private=True)  # counts only
        return
    names = {p.user_id: p.name for p in await asyncio.to_thread(people, engine)}
    pending = sum(1 for r in recipients if not acknowledged(item, r))
    buttons = [Button("未回答者に再送", "broadcast.resend", f"{item['id']}|{ctx.event.position}")] \
        if pending and item["status"] == "sent" else []
    ctx.reply(_status_text(item, recipients, names=names), private=True, buttons=buttons)


@action("broadcast.resend")
async def resend(ctx: Context) -> None:
    """「未回答者に再送」: the notice again to everyone who has not answered, once per button."""
    bid_text, _, source = ctx.args.partition("|")
    engine = _engine(ctx)
    if not bid_text.isdigit() or not source.isdigit():
        return
    presser = await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user)
    if not has_role(presser, "broadcaster"):
        ctx.reply("再送できるのは broadcaster の役割の職員だけです。", private=True)
        return
    item = await asyncio.to_thread(table.get, engine, int(bid_text))
    if item is None or item["status"] != "sent":
        ctx.reply("この一斉連絡は送信中ではありません。", private=True)
        return
    store = ctx.services.store
    [marker] = await store.append(NewEvent(
        "broadcast.resent", f"broadcast:{item['id']}:reminders", {"id": item["id"], "by": ctx.user},
        actor=ctx.user, platform=ctx.platform, causation_id=str(ctx.event.position),
        idempotency_key=f"broadcast:{item['id']}:resend:{source}"))
    if marker.causation_id != str(ctx.event.position):
        ctx.reply("この再送ボタンはすでに使われています（もう一度送るときは /broadcast status から）。",
                  private=True)
        return
    recipients = await asyncio.to_thread(table.recipients, engine, item["id"])
    due = [r for r in recipients if not acknowledged(item, r)]
    text = f"【再送】一斉連絡への回答がまだです。確認して回答してください。\n\n{_notice_text(item)}"
    await store.append(*(NewEvent(
        "outbound.requested", f"outbox:{item['platform']}:dm:{r['platform_user']}",
        Outbound(item["platform"], f"dm:{r['platform_user']}", text, tuple(_answer_buttons(item)),
                 ref=f"broadcast:{item['id']}:{r['user_id']}", priority=2).to_payload(),
        actor=ctx.user, platform=item["platform"],
        idempotency_key=f"broadcast:{item['id']}:resend:{source}:{r['user_id']}") for r in due))
    ctx.reply(f"未回答の {len(due)} 人に再送しました。", private=True)


# -- tallies ------------------------------------------------------------------------------------
def acknowledged(item: dict[str, Any], receipt: dict[str, Any]) -> str | None:
    """When this person acknowledged: their first answer (or, for 既読-only, a read mark)."""
    if item["options"]["answers"] == READ_ONLY:
        times = [t for t in (receipt.get("first_at"), receipt.get("read_at")) if t]
        return min(times) if times else None
    return receipt.get("first_at")


def _latest_answers(item: dict[str, Any], receipt: dict[str, Any]) -> dict[str, str]:
    """This person's latest answer to each question asked."""
    asked = questions(item)
    if len(asked) == 1:
        return {"answer": receipt["latest_answer"]} if receipt.get("latest_answer") else {}
    found = {q: receipt.get(f"{q}_answer") for q in asked}
    return {q: a for q, a in found.items() if a}


def summary(item: dict[str, Any], recipients: list[dict[str, Any]]) -> dict[str, Any]:
    by_department: dict[str, dict[str, Any]] = {}
    by_answer: dict[str, int] = {a: 0 for a in item["options"]["answers"]}
    asked = questions(item)
    tallies = {q: {a: 0 for a in choices} for q, choices in asked.items()} if len(asked) > 1 else {}
    delays = []
    acked = 0
    for receipt in recipients:
        dept = by_department.setdefault(receipt["department"], {
            "targets": 0, "acknowledged": 0,
            **{q: {a: 0 for a in choices} for q, choices in tallies.items()}})
        dept["targets"] += 1
        for question, answer in _latest_answers(item, receipt).items():
            if question in tallies:
                tallies[question][answer] = tallies[question].get(answer, 0) + 1
                dept[question][answer] = dept[question].get(answer, 0) + 1
        when = acknowledged(item, receipt)
        if when:
            acked += 1
            dept["acknowledged"] += 1
            if item.get("sent_at"):
                delays.append((parse_time(when) - parse_time(item["sent_at"])).total_seconds())
        if receipt.get("latest_answer"):
            by_answer[receipt["latest_answer"]] = by_answer.get(receipt["latest_answer"], 0) + 1
    return {"id": item["id"], "status": item["status"], "drill": item["options"]["drill"],
            "mode": item["options"]["mode"], "targets": len(recipients), "acknowledged": acked,
            "pending": len(recipients) - acked, "by_department": by_department,
            "by_answer": by_answer, "questions": tallies,
            "median_seconds_to_ack": round(statistics.median(delays), 1) if delays else None,
            "delivery": delivery(item, recipients)}


def delivery(item: dict[str, Any], recipients: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Which way the notice went, how many it reached, and how long that took (seconds None
    while still going); None for a broadcast never sent."""
    started = item.get("sent_at")
    if not started:
        return None
    if item["options"]["mode"] == "room":
        done = [item["delivered_at"]] if item.get("delivered_at") else []
        reached, missed, posts = (len(recipients) if done else 0), 0, 1
    else:
        done = [r["delivered_at"] for r in recipients if r.get("delivered_at")]
        missed = sum(1 for r in recipients if r.get("undeliverable") and not r.get("delivered_at"))
        reached, posts = len(done), len(recipients)
    finished = bool(done) and (item["options"]["mode"] == "room" or reached + missed == posts)
    seconds = None
    if finished:
        seconds = round((parse_time(max(done)) - parse_time(started)).total_seconds(), 1)
    return {"mode": item["options"]["mode"], "room": item["options"]["room"],
            "delivered": reached, "undeliverable": missed, "seconds": seconds}


def _delivery_text(d: dict[str, Any] | None, targets: int) -> str:
    if d is None:
        return ""
    if d["mode"] == "room":
        how = f"配信: ルーム「{d['room']}」への全体投稿"
        return f"{how}（{d['seconds']} 秒で完了）" if d["seconds"] is not None else f"{how}（配信中）"
    missed = f"、届かなかった人 {d['undeliverable']} 人" if d["undeliverable"] else ""
    progress = f"配信: 個別メッセージ {d['delivered']}/{targets} 人{missed}"
    return f"{progress}（{d['seconds']} 秒で完了）" if d["seconds"] is not None else f"{progress}（配信中）"


def _status_text(item: dict[str, Any], recipients: list[dict[str, Any]], *,
                 names: dict[str, str] | None = None) -> str:
    """The tallies; with `names` (for broadcasters only) also who has not answered, by
    department, and who reported an injury (要配慮個人情報)."""
    s = summary(item, recipients)
    lines = [f"【一斉連絡 {s['id']} の状況】{'【訓練】' if s['drill'] else ''}"
             f" 確認済み {s['acknowledged']} / {s['targets']} 人（未確認 {s['pending']} 人）"]
    if how := _delivery_text(s["delivery"], s["targets"]):
        lines.append(how)
    lines += [f"・{d}: {v['acknowledged']}/{v['targets']}" for d, v in s["by_department"].items()]
    if s["questions"]:
        for question, counts in s["questions"].items():
            lines.append(f"{QUESTION_LABELS[question]}: " + "、".join(f"{a} {n}" for a, n in counts.items()))
    elif item["options"]["answers"] != READ_ONLY:
        lines.append("回答: " + "、".join(f"{a} {n}" for a, n in s["by_answer"].items()))
    if names is not None:
        lines += _names_lines(item, recipients, names)
    if s["status"] == "closed":
        lines.append("（終了しました）")
    return "\n".join(lines)


def _names_lines(item: dict[str, Any], recipients: list[dict[str, Any]],
                 names: dict[str, str]) -> list[str]:
    pending: dict[str, list[str]] = {}
    for r in recipients:
        if not acknowledged(item, r):
            pending.setdefault(r["department"], []).append(names.get(r["user_id"], r["user_id"]))
    lines = []
    if pending:
        lines.append("未回答の人（部署別）:")
        shown = 0
        total = sum(len(v) for v in pending.values())
        for department, people_there in pending.items():
            room = PENDING_NAMES - shown
            if room <= 0:
                break
            lines.append(f"・{department}: {'、'.join(people_there[:room])}")
            shown += min(room, len(people_there))
        if total > shown:
            lines.append(f"ほか {total - shown} 名")
    hurt = [f"{names.get(r['user_id'], r['user_id'])}（{r.get('safety_answer') or r.get('latest_answer')}）"
            for r in recipients if (r.get("safety_answer") or r.get("latest_answer")) in SENSITIVE]
    if hurt:
        lines.append("要支援（本部限り）: " + "、".join(hurt[:PENDING_NAMES])
                     + (f" ほか {len(hurt) - PENDING_NAMES} 名" if len(hurt) > PENDING_NAMES else ""))
    return lines


def _status_version(item: dict[str, Any], recipients: list[dict[str, Any]]) -> str:
    """Moves with every change a status shows (all its times only grow), so two instances
    agree on one post per state and an answer changed back and forth still updates it."""
    times = [r[k] for r in recipients for k in ("latest_at", "read_at", "delivered_at") if r.get(k)]
    times += [item[k] for k in ("delivered_at", "closed_at") if item.get(k)]
    missed = sum(1 for r in recipients if r.get("undeliverable"))
    return f"{item['status']}:{max(times, default='-')}:{missed}"


# -- background: reminders and live status ----------------------------------------------------
async def background(services: Services) -> None:
    last: dict[int, str] = {}
    shown: dict[tuple[int, str], str] = {}
    while True:
        await asyncio.sleep(STATUS_EVERY)
        await run_due_work(services, last, shown)


async def run_due_work(services: Services, last: dict[int, str] | None = None,
                       shown: dict[tuple[int, str], str] | None = None) -> int:
    """Post status updates that changed, answered cards and reminders that are due; returns
    reminders sent. Every post carries an idempotency key, so two instances never post one
    twice."""
    last = {} if last is None else last
    shown = {} if shown is None else shown
    if services.get("catch_up") is not None:
        await services.get("catch_up")()  # read models include everything appended so far
    engine = services.get("engine")
    store = services.store
    now = services.clock()
    sent = 0
    for item in await asyncio.to_thread(table.open_broadcasts, engine):
        recipients = await asyncio.to_thread(table.recipients, engine, item["id"])
        text = _status_text(item, recipients)
        if last.get(item["id"]) != text:
            last[item["id"]] = text
            out = Outbound(item["platform"], item["room"], text, ref=f"broadcast:{item['id']}:status",
                           update=True)
            version = _status_version(item, recipients)
            await store.append(NewEvent("outbound.requested", f"outbox:{out.platform}:{out.room}",
                                        out.to_payload(), platform=out.platform,
                                        idempotency_key=f"broadcast:{item['id']}:status:{version}"))
        quiet_for = services.get("quiet_for")
        busy = quiet_for is not None and quiet_for() < 1.0
        if cards := card_updates(item, recipients, services.settings.tz, shown,
                                 limit=CARDS_WHILE_BUSY if busy else None):
            for start in range(0, len(cards), 500):
                await store.append(*cards[start:start + 500])
        started = parse_time(item["sent_at"])
        for round_no, minutes in enumerate(item["options"]["reminders"], start=1):
            if now < started + timedelta(minutes=minutes):
                break
            due = [r for r in recipients if not acknowledged(item, r) and r["reminded"] < round_no]
            events = []
            for r in due:
                text = (f"【催促】一斉連絡への回答がまだです。確認して回答してください。\n\n"
                        f"{_notice_text(item)}")
                out = Outbound(item["platform"], f"dm:{r['platform_user']}", text,
                               tuple(_answer_buttons(item)),
                               ref=f"broadcast:{item['id']}:{r['user_id']}", priority=2)
                key = f"broadcast:{item['id']}:remind:{round_no}:{r['user_id']}"
                events += [NewEvent("broadcast.reminded", f"broadcast:{item['id']}:reminders",
                                    {"id": item["id"], "user_id": r["user_id"], "round": round_no},
                                    idempotency_key=key),
                           NewEvent("outbound.requested", f"outbox:{out.platform}:{out.room}",
                                    out.to_payload(), platform=out.platform,
                                    idempotency_key=key + ":post")]
            if events:
                await store.append(*events)
                sent += len(due)
    return sent


# -- command line -------------------------------------------------------------------------------
def as_of(engine, store, bid: int | None, moment: datetime) -> tuple[dict, list[dict]] | None:
    """A broadcast's state recomputed from the log up to `moment`: the same projection,
    applied to a scratch in-memory database."""
    from sqlalchemy import create_engine

    from store.events import format_time

    limit = format_time(moment)
    projection = BroadcastProjection()
    scratch = create_engine("sqlite://")
    table.BroadcastRow.metadata.create_all(scratch, tables=[table.broadcasts, table.receipts])
    with scratch.begin() as conn:
        chunk: list = []
        for event in store.iter_all(types=projection.types):
            if event.occurred_at > limit:
                continue
            chunk.append(event)
            if len(chunk) >= 5000:
                projection.apply(conn, chunk)
                chunk = []
        projection.apply(conn, chunk)
    try:
        item = table.get(scratch, bid)
        return (item, table.recipients(scratch, item["id"])) if item else None
    finally:
        scratch.dispose()


def add_cli(sub: Any, add: Any) -> None:
    import json
    import sys

    from commands.cli_support import existing_engine
    from store.events import EventStore
    from store.projections import catch_up

    group = sub.add_parser("broadcast", help="一斉連絡の集計と書き出し", description="一斉連絡の集計と書き出し")
    actions = group.add_subparsers(dest="broadcast_command", metavar="操作")

    def load(settings, bid):
        engine = existing_engine(settings, migrate=True)
        if engine is None:
            return None, None
        catch_up(engine, BroadcastProjection())
        return engine, table.get(engine, bid)

    def cmd_status(args, settings) -> int:
        if args.as_of:
            try:
                moment = datetime.fromisoformat(args.as_of)
            except ValueError:
                print("--as-of は ISO 形式で指定してください（例: 2026-11-22T10:00+09:00）。", file=sys.stderr)
                return 2
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(settings.tz))
            engine = existing_engine(settings, migrate=True)
            if engine is None:
                return 1
            state = as_of(engine, EventStore(engine), args.id, moment)
            if state is None:
                print("その時点の一斉連絡はありません。", file=sys.stderr)
                return 1
            result = summary(*state)
        else:
            engine, item = load(settings, args.id)
            if item is None:
                print("一斉連絡が見つかりません。", file=sys.stderr)
                return 1
            result = summary(item, table.recipients(engine, item["id"]))
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"一斉連絡 {result['id']}: 確認済み {result['acknowledged']} / {result['targets']} 人"
                  f"（未確認 {result['pending']} 人）")
            if how := _delivery_text(result["delivery"], result["targets"]):
                print(f"  {how}")
            for dept, v in result["by_department"].items():
                print(f"  {dept}: {v['acknowledged']}/{v['targets']}")
        return 0

    def cmd_export(args, settings) -> int:
        engine, item = load(settings, args.id)
        if item is None:
            print("一斉連絡が見つかりません。", file=sys.stderr)
            return 1
        from store.staff import people as directory

        names = {p.user_id: p.name for p in directory(engine)}
        zone = ZoneInfo(settings.tz)
        jst = lambda t: parse_time(t).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if t else ""
        from commands.cli_support import write_csv

        write_csv(["user_id", "name", "department", "first_answer", "first_answer_at",
                   "latest_answer", "read_at", "delivered_at", "undeliverable", "safety",
                   "attendance"],
                  ([r["user_id"], names.get(r["user_id"], ""), r["department"],
                    r["first_answer"] or "", jst(r["first_at"]), r["latest_answer"] or "",
                    jst(r["read_at"]), jst(r["delivered_at"]), r["undeliverable"] or "",
                    r.get("safety_answer") or "", r.get("attendance_answer") or ""]
                   for r in table.recipients(engine, item["id"])))
        return 0

    p = add("status", cmd_status, "一斉連絡の集計（ID を省くと最新）。例: chonai broadcast status 42 --json",
            parent=actions)
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--as-of", help="その時点の集計をログから計算し直す（例: 2026-11-22T10:00+09:00）")
    p = add("export", cmd_export, "対象者ごとの回答・既読・配信を CSV（BOM つき UTF-8）で標準出力へ。例: chonai broadcast export 42 --csv > 回答.csv", parent=actions)
    p.add_argument("id", type=int)
    p.add_argument("--csv", action="store_true", help="CSV で出力（唯一の形式）")
