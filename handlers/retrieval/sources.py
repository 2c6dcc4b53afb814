"""Documents in: Markdown, plain text, HTML, PDF (text layer) and CSV FAQ files, split into
passages that keep their source, heading and page."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

MAX_PASSAGE = 500  # characters: long enough to answer from, short enough to rank well
KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html",
         ".htm": "html", ".pdf": "pdf", ".csv": "faq"}


class DocumentError(ValueError):
    """A file that cannot be read as a document; the message is Japanese."""


@dataclass(frozen=True)
class Passage:
    heading: str
    page: int | None
    text: str


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split(heading: str, page: int | None, body: str) -> list[Passage]:
    """Paragraph-aligned chunks of at most MAX_PASSAGE characters."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    chunks, current = [], ""
    for paragraph in paragraphs:
        while len(paragraph) > MAX_PASSAGE:  # one huge paragraph: cut at sentence ends
            cut = paragraph.rfind("。", 0, MAX_PASSAGE) + 1 or MAX_PASSAGE
            chunks.append(paragraph[:cut])
            paragraph = paragraph[cut:].strip()
        if current and len(current) + len(paragraph) + 1 > MAX_PASSAGE:
            chunks.append(current)
            current = ""
        current = f"{current}\n{paragraph}".strip()
    if current:
        chunks.append(current)
    return [Passage(heading, page, chunk) for chunk in chunks]


def from_markdown(text: str, title: str) -> list[Passage]:
    passages, heading, body = [], title, []
    for line in text.splitlines():
        match = re.match(r"^(#{1,6})\s+(.*)$", line)
        if match:
            passages += _split(heading, None, "\n".join(body))
            heading, body = match.group(2).strip() or title, []
        else:
            body.append(line)
    return passages + _split(heading, None, "\n".join(body))


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._skip = 0
        self._heading = False

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = True
            self.lines.append("\n# ")
        elif tag in ("p", "div", "li", "br", "tr"):
            self.lines.append("\n\n")

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = False
            self.lines.append("\n")

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip:
            self.lines.append(data.replace("\n", " ") if self._heading else data)


def from_html(text: str, title: str) -> list[Passage]:
    parser = _HtmlText()
    parser.feed(text)
    return from_markdown("".join(parser.lines), title)


def from_pdf(data: bytes, title: str) -> list[Passage]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except Exception as exc:  # pypdf raises many kinds for broken files
        raise DocumentError(f"PDF を読み取れません（{type(exc).__name__}）。") from None
    passages = []
    for number, text in enumerate(pages, start=1):
        passages += _split(title, number, text)
    if not passages:
        raise DocumentError("PDF に文字情報がありません（画像だけの PDF は読み取れません）。")
    return passages


def from_faq(text: str, title: str) -> list[Passage]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DocumentError("CSV が空です。")
    header = [h.strip().lower() for h in rows[0]]
    if header[:2] not in (["question", "answer"], ["質問", "回答"]):
        raise DocumentError("FAQ の CSV は 1 行目を question,answer（または 質問,回答）にしてください。")
    passages = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DocumentError(f"{line} 行目: 質問と回答の両方が必要です。")
        passages.append(Passage(row[0].strip(), None, f"Q. {row[0].strip()}\nA. {row[1].strip()}"))
    return passages


def read_document(path: Path) -> tuple[str, str, list[Passage]]:
    """(kind, sha256, passages) of one file."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"{path.name}: この形式は取り込めません（md, txt, html, pdf, csv）。")
    data = path.read_bytes()
    title = path.stem
    if kind == "pdf":
        return kind, digest(data), from_pdf(data, title)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError(f"{path.name}: UTF-8 で保存してください。") from None
    reader = {"markdown": from_markdown, "text": from_markdown, "html": from_html,
              "faq": from_faq}[kind]
    passages = reader(text, title)
    if not passages:
        raise DocumentError(f"{path.name}: 本文がありません。")
    return kind, digest(data), passages
