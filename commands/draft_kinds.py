"""The kinds of /draft (the purpose recorded for audit), their system prompts, and the
built-in templates used when no AI endpoint is configured."""

from __future__ import annotations

import unicodedata

COMMON = ("あなたは日本の自治体職員の文書作成を支援します。丁寧で正確な日本語で書き、"
          "事実が不明な箇所は【】で空欄にしてください。個人名や連絡先を創作しないでください。")

KINDS: dict[str, tuple[str, str]] = {
    # kind: (system prompt, template)
    "あいさつ文": ("異動・着任・退職などのあいさつ文を、簡潔で温かみのある文面で書いてください。",
               "【宛先】各位\n\nこのたび【日付】付けで【部署名】へ異動することになりました。"
               "在任中は大変お世話になり、ありがとうございました。\n今後ともよろしくお願いいたします。\n\n【氏名】"),
    "周知文": ("住民向けのお知らせ文を、やさしい日本語で、日時・場所・対象・問い合わせ先が分かるように書いてください。",
            "【件名】のお知らせ\n\n【日時】に【場所】で【内容】を行います。\n対象: 【対象】\n"
            "お問い合わせ: 【担当課】（電話 【代表番号】）"),
    "メール文": ("業務メールの文面を、件名・宛名・本文・結びの形で書いてください。",
             "件名: 【件名】\n\n【宛先】様\n\nいつもお世話になっております。【部署名】の【氏名】です。\n"
             "【用件】についてご連絡いたします。\n\nよろしくお願いいたします。"),
    "想定問答": ("住民や議会からの想定質問と回答を、Q と A の形で 3〜5 組作ってください。",
             "Q1. 【想定される質問】\nA1. 【回答】\n\nQ2. 【想定される質問】\nA2. 【回答】"),
    "要約": ("与えられた文章を、要点を箇条書き 3〜5 点で要約してください。",
           "要約（テンプレート）\n・【要点1】\n・【要点2】\n・【要点3】"),
    "翻訳": ("与えられた文章を、意味を変えずに自然な英語（指定があればその言語）に翻訳してください。",
           "Translation (template): 【ここに訳文】"),
    "誤字チェック": ("与えられた文章の誤字脱字・表記ゆれ・不自然な表現を指摘し、修正案を示してください。",
               "誤字チェック（テンプレート）\n・【箇所】→【修正案】（理由: 【理由】）"),
    "アイデア出し": ("依頼に沿ったアイデアを、実現のしやすさの説明つきで 5 つ挙げてください。",
               "アイデア（テンプレート）\n1. 【案】— 【ねらい】\n2. 【案】— 【ねらい】\n3. 【案】— 【ねらい】"),
}
ALIASES = {"あいさつ": "あいさつ文", "挨拶": "あいさつ文", "挨拶文": "あいさつ文", "周知": "周知文",
           "周知文（区民向け）": "周知文", "お知らせ": "周知文", "メール": "メール文", "問答": "想定問答",
           "q&a": "想定問答", "まとめ": "要約", "英訳": "翻訳", "校正": "誤字チェック",
           "誤字": "誤字チェック", "アイデア": "アイデア出し"}
_GUESS = [("あいさつ", "あいさつ文"), ("挨拶", "あいさつ文"), ("異動", "あいさつ文"), ("メール", "メール文"),
          ("要約", "要約"), ("まとめ", "要約"), ("翻訳", "翻訳"), ("英語", "翻訳"), ("誤字", "誤字チェック"),
          ("校正", "誤字チェック"), ("アイデア", "アイデア出し"), ("案を", "アイデア出し"),
          ("問答", "想定問答"), ("質問", "想定問答"), ("お知らせ", "周知文"), ("周知", "周知文")]
DEFAULT = "周知文"


def split_kind(text: str) -> tuple[str, str, bool]:
    """(kind, request, guessed): the first word names the kind, or it is guessed."""
    text = text.strip()
    first, _, rest = text.replace("\u3000", " ").partition(" ")
    key = unicodedata.normalize("NFKC", first).lower()
    kind = key if key in KINDS else ALIASES.get(key)
    if kind and rest.strip():
        return kind, rest.strip(), False
    for word, guess in _GUESS:
        if word in text:
            return guess, text, True
    return DEFAULT, text, True


def system_prompt(kind: str) -> str:
    return f"{COMMON}\n{KINDS[kind][0]}"


def template(kind: str) -> str:
    return KINDS[kind][1]
