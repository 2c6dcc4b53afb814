"""PII guard benchmark: characters/s and latency for a 2,000-character municipal prompt.

    python bench/pii.py [--runs 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.pii import Guard  # noqa: E402

PARAGRAPHS = [
    "令和7年度の防災訓練について、各課の参加者を10月31日までに危機管理課へ報告してください。",
    "窓口対応メモ：鈴木一郎様（昭和50年5月5日生）が来庁し、転入届を提出。連絡先 090-1234-5678。",
    "新住所は神奈川県横浜市港北区日吉本町二丁目3番4号 グリーンハイツ203号室です。",
    "お問い合わせは市民課（電話 045-123-4567、内線 210）までお願いします。",
    "予算額は1,234,567千円で、前年度比3.2%増となっています。",
    "担当の高橋です。返信は k.takahashi@example.jp までお願いします。",
    "中央公民館（緑町4-5-6）で説明会を開催します。参加費は無料です。",
]


def prompt(length: int = 2000) -> str:
    text, i = "", 0
    while len(text) < length:
        text += PARAGRAPHS[i % len(PARAGRAPHS)]
        i += 1
    return text[:length]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    guard = Guard()
    text = prompt()
    for _ in range(20):
        guard.scan(text)
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        guard.scan(text)
        timings.append(time.perf_counter() - start)
    timings.sort()
    total = sum(timings)
    print(f"prompt: {len(text):,} characters, {len(guard.scan(text))} findings, {args.runs} runs")
    print(f"throughput: {len(text) * args.runs / total:,.0f} characters/s")
    print(f"latency: p50 {statistics.median(timings) * 1000:.1f} ms, "
          f"p99 {timings[int(len(timings) * 0.99) - 1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
