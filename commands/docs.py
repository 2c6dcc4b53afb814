"""The document library behind /ask: `chonai docs import|list|remove|search`, its read model,
and the retriever service."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from commands.context import Services
from handlers.retrieval.index import Retriever, Viewer
from handlers.retrieval.sources import KINDS, DocumentError, read_document
from handlers.retrieval.tokens import terms
from store.documents import DocumentsProjection, find_document, list_documents
from store.events import EventStore, NewEvent

PROJECTIONS = [DocumentsProjection(terms)]


def embeddings_model(settings) -> str | None:
    model = settings.get("chonai_embeddings_model")
    return model if model and settings.ai_enabled else None


def configure(services: Services) -> None:
    settings = services.settings
    model = embeddings_model(settings)
    services.features["retriever"] = Retriever(services.get("engine"), model)
    if model:
        from handlers.retrieval.dense import Embedder

        services.features["embedder"] = Embedder(base_url=settings.openai_base_url,
                                                 api_key=settings.openai_api_key, model=model,
                                                 timeout=settings.openai_timeout)


async def embed_missing(services: Services) -> int:
    """Embed passages that have no vector yet (after an import); returns how many."""
    from store.documents import passages_without_vectors, save_vectors

    embedder = services.get("embedder")
    if embedder is None:
        return 0
    engine = services.get("engine")
    done = 0
    while batch := await asyncio.to_thread(passages_without_vectors, engine, embedder.model):
        matrix = await embedder.embed([text for _, text in batch])
        await asyncio.to_thread(save_vectors, engine, embedder.model,
                                [(pid, row.tobytes()) for (pid, _), row in zip(batch, matrix)])
        done += len(batch)
    return done


async def background(services: Services) -> None:
    while services.get("embedder") is not None:
        try:
            await embed_missing(services)
        except Exception as exc:  # the endpoint may be down; lexical search still works
            import logging

            logging.getLogger(__name__).warning("embedding passages failed: %s", type(exc).__name__)
        await asyncio.sleep(30)


def viewer_for(engine, platform: str, user: str) -> Viewer:
    """The viewer's department and roles from the staff directory, if there is one."""
    try:
        from store.staff import find_person
    except ImportError:
        return Viewer()
    person = find_person(engine, platform, user)
    return Viewer(person.department, tuple(person.roles)) if person else Viewer()


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in KINDS)
        else:
            found.append(path)
    return found


def _split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


async def import_documents(engine, paths: list[str], *, departments: list[str],
                           roles: list[str]) -> tuple[list[str], list[str]]:
    """Append one event per new or changed file; returns (messages, errors)."""
    from store.projections import catch_up

    store = EventStore(engine)
    await store.start()
    messages, errors = [], []
    for path in _files(paths):
        if not path.is_file():
            errors.append(f"{path}: ファイルが見つかりません。")
            continue
        try:
            kind, sha, passages = await asyncio.to_thread(read_document, path)
        except DocumentError as exc:
            errors.append(str(exc) if str(exc).startswith(path.name) else f"{path.name}: {exc}")
            continue
        existing = find_document(engine, path.name)
        if existing and existing["sha256"] == sha and existing["departments"] == departments \
                and existing["roles"] == roles:
            messages.append(f"{path.name}: 変更がないため、取り込みを省きました。")
            continue
        await store.append(NewEvent("docs.imported", f"document:{path.name}", {
            "source": path.name, "title": path.stem, "kind": kind, "sha256": sha,
            "departments": departments, "roles": roles,
            "passages": [{"heading": p.heading, "page": p.page, "text": p.text}
                         for p in passages]}, actor="cli"))
        verb = "更新" if existing else "取り込み"
        messages.append(f"{path.name}: {len(passages)} 件の段落を{verb}ました。")
    await store.stop()
    await asyncio.to_thread(catch_up, engine, DocumentsProjection(terms))
    return messages, errors


async def remove_document(engine, source: str) -> bool:
    from store.projections import catch_up

    if find_document(engine, source) is None:
        return False
    store = EventStore(engine)
    await store.start()
    await store.append(NewEvent("docs.removed", f"document:{source}", {"source": source},
                                actor="cli"))
    await store.stop()
    await asyncio.to_thread(catch_up, engine, DocumentsProjection(terms))
    return True


def add_cli(sub: Any, add: Any) -> None:
    from commands.cli_support import engine_for as _engine

    docs = sub.add_parser("docs", help="/ask が答えに使う文書（規程・FAQ・資料）", description="/ask が答えに使う文書（規程・FAQ・資料）")
    docs_sub = docs.add_subparsers(dest="docs_command", metavar="操作")

    def cmd_import(args, settings) -> int:
        engine = _engine(settings)
        messages, errors = asyncio.run(import_documents(
            engine, args.paths, departments=_split_list(args.departments),
            roles=_split_list(args.roles)))
        for line in messages:
            print(line)
        for line in errors:
            print(line, file=sys.stderr)
        return 1 if errors else 0

    def cmd_list(args, settings) -> int:
        for doc in list_documents(_engine(settings)):
            limits = ",".join(doc["departments"] + doc["roles"]) or "全職員"
            print(f"{doc['source']}\t{doc['kind']}\t{doc['passages']}段落\t公開範囲: {limits}"
                  f"\t{doc['imported_at']}")
        return 0

    def cmd_remove(args, settings) -> int:
        engine = _engine(settings)
        missing = [s for s in args.sources if not asyncio.run(remove_document(engine, s))]
        for source in missing:
            print(f"{source}: 登録されていません。chonai docs list で名前を確認してください。",
                  file=sys.stderr)
        return 1 if missing else 0

    def cmd_search(args, settings) -> int:
        engine = _engine(settings)
        viewer = Viewer(args.department, tuple(_split_list(args.roles)))
        hits = Retriever(engine).search(args.question, viewer, k=args.k)
        if args.json:
            for hit in hits:
                print(json.dumps({k: hit[k] for k in ("source", "title", "heading", "page",
                                                       "score", "restricted", "text")},
                                 ensure_ascii=False))
            return 0
        if not hits:
            print("該当する段落は見つかりませんでした。")
        for rank, hit in enumerate(hits, 1):
            page = f" p.{hit['page']}" if hit.get("page") else ""
            print(f"{rank}. [{hit['score']:.2f}] {hit['source']} / {hit['heading']}{page}")
            print("   " + hit["text"][:160].replace("\n", " "))
        return 0

    p = add("import", cmd_import, "文書を取り込む・更新する（.md .txt .html .pdf、FAQ の CSV は「質問,回答」の 2 列）。例: chonai docs import 規程/*.pdf --departments 総務課",
            parent=docs_sub)
    p.add_argument("paths", nargs="+")
    p.add_argument("--departments", help="この部署だけが読める（カンマ区切り）")
    p.add_argument("--roles", help="この役割だけが読める（カンマ区切り）")
    add("list", cmd_list, "取り込んだ文書の一覧", parent=docs_sub)
    p = add("remove", cmd_remove, "文書を名前で削除", parent=docs_sub)
    p.add_argument("sources", nargs="+")
    p = add("search", cmd_search, "文書を検索して該当箇所を表示", parent=docs_sub)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--department", help="この部署の職員として検索")
    p.add_argument("--roles", help="この役割で検索")
