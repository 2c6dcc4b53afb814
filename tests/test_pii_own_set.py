"""The PII guard on our own evaluation set (tests/pii_eval/own.jsonl, written from templates
and name pools of its own): recall and precision by overlap, as the shared scorer counts them,
and no false alarm on its texts without personal data."""

from __future__ import annotations

import json
from pathlib import Path

from handlers.pii import Guard, personal

SET = Path(__file__).parent / "pii_eval" / "own.jsonl"


def score() -> dict:
    guard = Guard()
    gold_total = found = predicted = correct = false_alarms = negatives = 0
    misses = []
    for line in SET.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        spans = [(f.start, f.end) for f in personal(guard.scan(item["text"]))]
        gold = [(s["start"], s["end"]) for s in item["spans"]]
        gold_total += len(gold)
        predicted += len(spans)
        for g in gold:
            if any(s < g[1] and g[0] < e for s, e in spans):
                found += 1
            else:
                misses.append(item["text"][g[0]:g[1]])
        correct += sum(1 for s, e in spans if any(s < g[1] and g[0] < e for g in gold))
        if not gold:
            negatives += 1
            false_alarms += bool(spans)
    return {"recall": found / gold_total, "precision": correct / max(1, predicted),
            "false_alarm_rate": false_alarms / negatives, "misses": misses, "texts": negatives}


def test_own_set_is_large_and_balanced():
    lines = SET.read_text(encoding="utf-8").splitlines()
    with_pii = sum(1 for line in lines if json.loads(line)["spans"])
    assert len(lines) >= 200 and len(lines) - with_pii >= len(lines) * 0.4


def test_guard_generalises_to_our_own_set():
    result = score()
    assert result["recall"] >= 0.95, result["misses"]
    assert result["precision"] >= 0.90
    assert result["false_alarm_rate"] <= 0.02
