"""`chonai pii scan`: JSON lines {"id","text"} in, {"id","spans":[…]} out, one per line."""

from __future__ import annotations

import json
from typing import TextIO

from handlers.pii import Guard


def scan_stream(infile: TextIO, outfile: TextIO) -> None:
    guard = Guard()
    for line in infile:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError("text must be a string")
            spans = [{"start": f.start, "end": f.end, "type": f.type} for f in guard.scan(text)]
            result = {"id": item.get("id"), "spans": spans}
        except (ValueError, KeyError, TypeError) as exc:
            result = {"id": None, "spans": [], "error": type(exc).__name__}
        outfile.write(json.dumps(result, ensure_ascii=False) + "\n")
        outfile.flush()
