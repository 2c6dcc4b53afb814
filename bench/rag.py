"""Retrieval benchmark: index N generated passages, then time searches.

    python bench/rag.py [--passages 100000] [--queries 300]

Prints indexing time (events → passages table with Sudachi terms → in-memory BM25 index),
search p50/p99 and the process's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.retrieval.index import Retriever, Viewer  # noqa: E402
from store.db import make_engine  # noqa: E402
from handlers.retrieval.tokens import terms  # noqa: E402
from store.documents import DocumentsProjection  # noqa: E402
from store.events import EventStore, NewEvent  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.projections import catch_up  # noqa: E402

TOPICS = ["転入届", "転出届", "住民票", "印鑑登録", "戸籍謄本", "国民健康保険", "介護保険", "児童手当",
          "保育所", "粗大ごみ", "資源回収", "市民税", "固定資産税", "軽自動車税", "道路占用", "建築確認",
          "避難所", "防災訓練", "給付金", "マイナンバーカード", "図書館", "公民館", "予防接種", "健康診断"]
ACTIONS = ["の申請は", "の手続きは", "の受付は", "の届出は", "の交付は", "の相談は"]
PLACES = ["市民課の窓口で", "本庁舎2階で", "各支所で", "オンラインで", "郵送で", "コンビニで"]
DETAILS = ["本人確認書類が必要です。", "手数料は300円です。", "平日の9時から17時まで受け付けます。",
           "14日以内に手続きしてください。", "事前の予約が必要です。", "代理人の場合は委任状が必要です。"]


def passage(rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    return "".join([topic, rng.choice(ACTIONS), rng.choice(PLACES), "行います。",
                    rng.choice(DETAILS), rng.choice(DETAILS), f"（第{rng.randint(1, 99)}条）"])


async def fill(engine, total: int, per_doc: int = 100) -> None:
    rng = random.Random(7)
    store = EventStore(engine)
    await store.start()
    for doc in range(total // per_doc):
        await store.append(NewEvent("docs.imported", f"document:d{doc}.md", {
            "source": f"d{doc}.md", "title": f"規程{doc}", "kind": "markdown", "sha256": str(doc),
            "departments": ["防災課"] if doc % 50 == 0 else [], "roles": [],
            "passages": [{"heading": f"第{i}節", "page": None, "text": passage(rng)}
                         for i in range(per_doc)]}))
    await store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='chonai-rag-')}/rag.db")
    upgrade(engine)
    asyncio.run(fill(engine, args.passages))
    started = time.perf_counter()
    catch_up(engine, DocumentsProjection(terms), batch=20)
    tokenised = time.perf_counter() - started
    retriever = Retriever(engine)
    started = time.perf_counter()
    index = retriever.refresh()
    built = time.perf_counter() - started
    print(f"indexed {len(index):,} passages: terms (SudachiPy) {tokenised:.1f} s, "
          f"in-memory BM25 index {built:.1f} s")
    rng = random.Random(11)
    questions = [f"{rng.choice(TOPICS)}{rng.choice(['はどこで申し込めますか', 'の手数料を教えて', 'てつづきのきげん'])}"
                 for _ in range(args.queries)]
    timings = []
    for question in questions:
        start = time.perf_counter()
        retriever.search(question, Viewer("市民課"), k=5)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    print(f"search over {len(index):,} passages: p50 {statistics.median(timings):.1f} ms, "
          f"p99 {timings[int(len(timings) * 0.99) - 1]:.1f} ms ({len(timings)} questions)")
    print(f"memory: max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
