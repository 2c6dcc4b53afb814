"""Writes tests/pii_eval/own.jsonl: our own labelled evaluation set for the PII guard, made
from templates and name pools written for it (not from the shared corpus, not from the
guard's rules). Deterministic: `python tests/pii_eval/make_set.py` rewrites the same file.

Kinds of text: consultation records, complaint forms, bank-transfer requests, guardianship
letters, English letters to residents, 転入届 notes, staff notices; about half hold no
personal data (organisation contacts, places, facilities, budgets, dates, counts)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from stdnum import luhn
from stdnum.jp import in_ as individual_number

OUT = Path(__file__).with_name("own.jsonl")

# (kanji, katakana, romaji)
SURNAMES = [("柏木", "カシワギ", "Kashiwagi"), ("宮下", "ミヤシタ", "Miyashita"),
            ("大塚", "オオツカ", "Otsuka"), ("須藤", "スドウ", "Sudo"), ("浜田", "ハマダ", "Hamada"),
            ("野口", "ノグチ", "Noguchi"), ("松尾", "マツオ", "Matsuo"), ("菅原", "スガワラ", "Sugawara"),
            ("千葉", "チバ", "Chiba"), ("岩崎", "イワサキ", "Iwasaki"), ("桑原", "クワハラ", "Kuwahara"),
            ("内田", "ウチダ", "Uchida"), ("荒木", "アラキ", "Araki"), ("久保", "クボ", "Kubo"),
            ("堀", "ホリ", "Hori"), ("横山", "ヨコヤマ", "Yokoyama"), ("平野", "ヒラノ", "Hirano"),
            ("関", "セキ", "Seki"), ("杉本", "スギモト", "Sugimoto"), ("望月", "モチヅキ", "Mochizuki")]
GIVEN = [("大翔", "ヒロト", "Hiroto"), ("結衣", "ユイ", "Yui"), ("健司", "ケンジ", "Kenji"),
         ("美穂", "ミホ", "Miho"), ("隆", "タカシ", "Takashi"), ("直子", "ナオコ", "Naoko"),
         ("蓮", "レン", "Ren"), ("さくら", "サクラ", "Sakura"), ("誠", "マコト", "Makoto"),
         ("千尋", "チヒロ", "Chihiro"), ("浩二", "コウジ", "Koji"), ("由美子", "ユミコ", "Yumiko"),
         ("湊", "ミナト", "Minato"), ("陽菜", "ヒナ", "Hina"), ("修", "オサム", "Osamu"),
         ("恵", "メグミ", "Megumi")]
CHILDREN = ["悠真", "芽依", "颯太", "凛", "陽斗", "杏", "樹", "美桜"]
CITIES = [("北海道", "札幌市中央区", "南七条西"), ("宮城県", "石巻市", "中里"), ("埼玉県", "川口市", "青木"),
          ("千葉県", "松戸市", "常盤平"), ("愛知県", "豊田市", "若宮町"), ("兵庫県", "姫路市", "飾磨区清水"),
          ("広島県", "福山市", "霞町"), ("熊本県", "熊本市東区", "健軍")]
BUILDINGS = ["ひまわり荘", "サンライズコーポ", "メゾン若草", "グランハイツ東", "パークレジデンス"]
WARDS = ["東区", "西区", "中央区", "緑区", "港北区", "北区"]
DEPTS = ["市民課", "福祉課", "税務課", "子育て支援課", "防災危機管理課", "環境政策課", "情報政策課"]
FACILITIES = ["若葉台保育園", "中央図書館", "市民体育館", "東部公民館", "こども未来館", "北清掃工場"]


def phone(rng: random.Random, mobile: bool = True) -> tuple[str, str, str]:
    if mobile:
        return rng.choice(["090", "080", "070"]), str(rng.randint(1000, 9999)), str(rng.randint(1000, 9999))
    area = "0" + rng.choice(["3", "6", "45", "52", "92", "11", "22", "86"])
    middle = str(rng.randint(10 ** (5 - len(area)), 10 ** (6 - len(area)) - 1))
    return area, middle, str(rng.randint(1000, 9999))


def spell_phone(rng: random.Random, groups: tuple[str, str, str]) -> str:
    a, b, c = groups
    number = a + b + c
    style = rng.randrange(6)
    if style == 0:
        return f"{a}-{b}-{c}"
    if style == 1:
        return f"{a}.{b}.{c}"
    if style == 2:
        return "・".join(x.translate(str.maketrans("0123456789", "０１２３４５６７８９")) for x in (a, b, c))
    if style == 3:
        return f"{a}({b}){c}"
    if style == 4:
        return number
    return f"+81-{a[1:]}-{b}-{c}"


def my_number(rng: random.Random) -> str:
    body = "".join(str(rng.randint(0, 9)) for _ in range(11))
    return body + individual_number.calc_check_digit(body)


def card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    return body + luhn.calc_check_digit(body)


class Text:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[dict] = []

    def add(self, text: str, kind: str | None = None) -> "Text":
        start = sum(len(p) for p in self.parts)
        self.parts.append(text)
        if kind:
            self.spans.append({"start": start, "end": start + len(text), "type": kind})
        return self

    def done(self) -> tuple[str, list[dict]]:
        return "".join(self.parts), self.spans


def positives(rng: random.Random) -> list[tuple[str, list[dict]]]:
    out = []
    for i in range(120):
        s, g = rng.choice(SURNAMES), rng.choice(GIVEN)
        s2 = rng.choice(SURNAMES)
        pref, city, town = rng.choice(CITIES)
        t = Text()
        kind = i % 15
        if kind == 0:  # consultation record
            t.add("【相談記録】相談者：").add(f"{s[0]}{g[0]}", "PERSON").add("（")
            t.add(f"{rng.randint(1950, 1999)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日", "BIRTHDATE")
            t.add("生）。生活費についての相談。連絡先は携帯 ")
            t.add(spell_phone(rng, phone(rng)), "PHONE").add(" とのこと。")
        elif kind == 1:  # complaint form
            t.add(f"{rng.choice('ABC')}棟にお住まいの").add(s[0], "PERSON")
            t.add("様より、夜間の騒音について苦情がありました。対応は").add(rng.choice(DEPTS)).add(" ")
            t.add(s2[0], "PERSON").add(f"（内線{rng.randint(2000, 2999)}）が担当します。")
        elif kind == 2:  # bank transfer request
            t.add(f"振込先：さくら信用金庫 {rng.choice(['本店', '駅前支店'])} 普通 ")
            t.add(str(rng.randint(1000000, 9999999)), "BANK_ACCOUNT").add(" 名義 ")
            t.add(f"{s[1]}\u3000{g[1]}", "PERSON").add(" 宛にお願いします。")
        elif kind == 3:  # guardianship letter
            t.add("成年後見人の").add(f"{s[0]}{g[0]}", "PERSON").add("弁護士より、被後見人")
            t.add(f"{s2[0]}", "PERSON").add("様の住所変更届が届きました。新住所：")
            t.add(f"{pref}{city}{town}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号", "ADDRESS")
        elif kind == 4:  # English letter to a resident
            t.add(f"Dear {rng.choice(['Mr.', 'Ms.'])} ").add(s[2], "PERSON")
            t.add(", we have received your application for the residence card. Please contact us.")
        elif kind == 5:
            t.add("Sender: ").add(f"{g[2]} {s[2]}", "PERSON").add(" <")
            t.add(f"{g[2].lower()}.{s[2].lower()}{rng.randint(1, 99)}@example.net", "EMAIL").add(">")
        elif kind == 6:
            t.add("Applicant: ").add(f"{s[2].upper()} {g[2]}", "PERSON")
            t.add(f" / Date of birth: ").add(f"{rng.randint(1960, 2001)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", "BIRTHDATE")
        elif kind == 7:  # 転入届 note
            t.add("転入届受付メモ：").add(f"{s[0]}\u3000{g[0]}", "PERSON").add("（ふりがな：")
            t.add(f"{_hira(s[1])} {_hira(g[1])}", "PERSON").add("）。旧住所は")
            t.add(f"{rng.choice(BUILDINGS)}{rng.randint(1, 5)}階{rng.randint(101, 509)}号", "ADDRESS").add("。")
        elif kind == 8:  # staff notice
            t.add(f"【職員向け】4月1日付で{rng.choice(DEPTS)}の").add(f"{s[0]}", "PERSON")
            t.add("主査が異動します。後任は").add(f"{s2[0]}{g[0]}", "PERSON").add("です。")
        elif kind == 9:
            t.add("マイナンバー").add(my_number(rng), "MYNUMBER").add("の方の申請書に不備がありました。")
        elif kind == 10:
            t.add("クレジットカードナンバー").add(card(rng), "CARD").add("で納付したいとの問合せ。")
        elif kind == 11:
            child = rng.choice(CHILDREN)
            t.add("保育園から連絡：").add(child, "PERSON").add(rng.choice(["くん", "ちゃん"]))
            t.add("が発熱のため、保護者の").add(f"{s[0]}", "PERSON").add("さんにお迎えを依頼。")
        elif kind == 12:
            t.add("〒").add(f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", "POSTAL_CODE").add(" ")
            t.add(f"{pref}{city}{town}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}", "ADDRESS")
            t.add(" ").add(f"{s[0]}{g[0]}", "PERSON").add(" 様")
        elif kind == 13:
            t.add("自宅電話 ").add(spell_phone(rng, phone(rng, mobile=False)), "PHONE")
            t.add(" に折り返してほしいと").add(s[0], "PERSON").add("氏から伝言。")
        else:
            t.add("介護保険被保険者番号 ").add(str(rng.randint(1000000000, 9999999999)), "HEALTH_INSURANCE")
            t.add(" の").add(f"{s[0]}{g[0]}", "PERSON").add("さんについて、ケアマネの")
            t.add(f"{s2[0]}", "PERSON").add("より報告。")
        out.append(t.done())
    return out


def _hira(kana: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in kana)


def negatives(rng: random.Random) -> list[tuple[str, list[dict]]]:
    out = []
    for i in range(100):
        dept, ward, facility = rng.choice(DEPTS), rng.choice(WARDS), rng.choice(FACILITIES)
        n = rng.randint(2, 98)
        kind = i % 12
        text = [
            f"{ward}の{facility}は、{n}日から改修工事のため休館します。お問い合わせは{dept}（電話 0{rng.randint(3, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}）へ。",
            f"令和{rng.randint(5, 9)}年度の{dept}予算は{rng.randint(1, 99)}億{rng.randint(100, 999)}万円で、前年度比{n}%増です。",
            f"{facility}の利用者数は{rng.randint(1000, 9999)}人でした。電子申請の割合は{n}%です。",
            f"The {ward.replace('区', '')} Ward Office will be closed on {rng.choice(['Monday', 'Friday'])}, {rng.choice(['May', 'June'])} {n}.",
            f"契約の相手方：株式会社{rng.choice(['みなと', 'あおば', 'ひかり'])}設備（法人番号 {_corporate(rng)}）",
            f"受付番号 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} の申請は{dept}で審査中です。",
            f"マイナポータルからの申請は{n}件、窓口での申請は{rng.randint(10, 300)}件でした。",
            f"本町{rng.randint(1, 5)}丁目交差点付近で{n}日に水道工事を行います。",
            f"{dept}のメールアドレスは kikaku@city.example.lg.jp です。代表電話 0{rng.randint(3, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            f"防災訓練は{rng.randint(1, 12)}月{rng.randint(1, 28)}日に{facility}で実施します。参加者は{n}名の見込みです。",
            f"区長は定例会見で、{ward}のごみ減量が{n}%進んだと説明しました。",
            f"コールセンター（0120-{rng.randint(100, 999)}-{rng.randint(100, 999)}）は平日9時から17時まで受け付けます。",
        ][kind]
        out.append((text, []))
    return out


def _corporate(rng: random.Random) -> str:
    from stdnum.jp import cn

    body = "".join(str(rng.randint(0, 9)) for _ in range(12))
    return cn.calc_check_digit(body) + body


def main() -> None:
    rng = random.Random(20261202)
    items = positives(rng) + negatives(rng)
    with OUT.open("w", encoding="utf-8") as f:
        for i, (text, spans) in enumerate(items, 1):
            f.write(json.dumps({"id": f"own-{i:04d}", "text": text, "spans": spans},
                               ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(items)} texts, {sum(1 for _, s in items if s)} with personal data")


if __name__ == "__main__":
    main()
