"""Documents for /ask: import, update, removal, restricted documents and Japanese-aware search."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from commands.docs import import_documents, remove_document
from handlers.retrieval.index import Retriever, Viewer
from handlers.retrieval.sources import DocumentError, read_document
from store.db import make_engine
from store.documents import list_documents
from store.migrate import upgrade

RULES = """# 転入届の手続き

転入届は、引っ越しをした日から14日以内に市民課の窓口へ提出してください。本人確認書類が必要です。

# 住民票の写しの交付

住民票の写しは、コンビニエンスストアでも交付を受けられます。手数料は1通300円です。

# 職員の旅費

出張の旅費は、出張命令を受けた職員が帰庁後5日以内に精算します。
"""
SECRET = """# 災害時職員参集基準

震度5強以上の地震が発生したときは、防災課の職員は全員30分以内に本庁舎へ参集します。
"""
FAQ = "question,answer\n粗大ごみの出し方は？,粗大ごみは事前の申込みが必要です。電話かインターネットで受け付けます。\n"


def minimal_pdf(pages: list[str]) -> bytes:
    """A small text-layer PDF (ASCII text, Helvetica), one page per entry."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "窓口規程.md").write_text(RULES, encoding="utf-8")
    (folder / "faq.csv").write_text(FAQ, encoding="utf-8")
    (folder / "manual.pdf").write_bytes(minimal_pdf(
        ["Evacuation manual overview", "Shelters open at 7 am with blankets and water"]))
    secret = tmp_path / "restricted"
    secret.mkdir()
    (secret / "参集基準.md").write_text(SECRET, encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'docs.db'}")
    upgrade(engine)
    return engine, folder, secret


async def test_import_search_update_remove(library, tmp_path):
    engine, folder, secret = library
    messages, errors = await import_documents(engine, [str(folder)], departments=[], roles=[])
    assert errors == [] and len(messages) == 3
    await import_documents(engine, [str(secret)], departments=["防災課"], roles=[])
    retriever = Retriever(engine)
    everyone = Viewer("市民課")

    # Paraphrases, kana for kanji, full-width digits.
    top = retriever.search("引越しのあと、てんにゅうの届出はいつまで？", everyone)[0]
    assert top["heading"] == "転入届の手続き" and top["source"] == "窓口規程.md"
    assert retriever.search("住民票のコピーは３００円ですか", everyone)[0]["heading"] == "住民票の写しの交付"
    assert retriever.search("粗大ゴミを捨てたい。申し込みは必要？", everyone)[0]["source"] == "faq.csv"
    page = retriever.search("When do shelters open?", everyone)[0]
    assert page["source"] == "manual.pdf" and page["page"] == 2

    # The restricted document reaches only its department.
    question = "震度5強のとき職員はどこへ参集しますか"
    assert all(h["source"] != "参集基準.md" for h in retriever.search(question, everyone))
    assert retriever.search(question, Viewer("防災課"))[0]["source"] == "参集基準.md"

    # Unchanged files are skipped; a changed one replaces its passages.
    messages, _ = await import_documents(engine, [str(folder)], departments=[], roles=[])
    assert all("変更がない" in m for m in messages)
    (folder / "窓口規程.md").write_text(RULES.replace("14日以内", "30日以内"), encoding="utf-8")
    messages, _ = await import_documents(engine, [str(folder)], departments=[], roles=[])
    assert any("更新" in m for m in messages)
    assert "30日以内" in retriever.search("転入届の期限", everyone)[0]["text"]
    assert await remove_document(engine, "faq.csv")
    assert not any(h["source"] == "faq.csv" for h in retriever.search("粗大ごみ", everyone))
    assert {d["source"] for d in list_documents(engine)} == {"窓口規程.md", "manual.pdf", "参集基準.md"}


@pytest.mark.parametrize("name, body, message", [
    ("bad.csv", "q,a\nx,y\n", "question,answer"),
    ("bad.docx", "x", "形式"),
    ("empty.md", "", "本文"),
])
def test_bad_documents_are_refused_with_a_reason(tmp_path, name, body, message):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DocumentError, match=message):
        read_document(path)


def test_cli_search_prints_sources(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "規程.md").write_text(RULES, encoding="utf-8")
    env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "bot.cli", "docs", *a], env=env,
                                    capture_output=True, text=True, timeout=120)
    assert run("import", str(folder)).returncode == 0
    out = run("search", "住民票の写しの手数料", "--json", "-k", "1")
    assert out.returncode == 0 and '"heading": "住民票の写しの交付"' in out.stdout
    assert "規程.md" in run("list").stdout
    assert run("remove", "nothing.md").returncode == 1


async def test_dense_score_from_an_embeddings_endpoint_finds_a_paraphrase(start_bot, library):
    from commands.docs import embed_missing
    from tests.openai_standin import OpenAIStandIn

    stand_in = await OpenAIStandIn().start()
    try:
        bot = await start_bot(openai_base_url=stand_in.base_url,
                              extra={"chonai_embeddings_model": "embed-test"})
        _, folder, _ = library
        await import_documents(bot.runtime.engine, [str(folder)], departments=[], roles=[])
        services = bot.runtime.services
        assert await embed_missing(services) >= 5
        question = "ここへ移り住んだばかりです"  # no word in common with the rule
        assert services.get("retriever").search(question, Viewer()) == []
        vector = (await services.get("embedder").embed([question]))[0]
        fused = services.get("retriever").search(question, Viewer(), 5, vector)
        assert fused[0]["heading"] == "転入届の手続き" and fused[0]["similarity"] > 0.9
    finally:
        await stand_in.close()
