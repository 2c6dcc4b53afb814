"""One SudachiPy tokenizer per thread (Sudachi tokenizers are not thread-safe), shared by the
PII guard, retrieval and procedure look-up."""

from __future__ import annotations

import threading

_local = threading.local()


def tokenizer():
    if not hasattr(_local, "tokenizer"):
        from sudachipy import dictionary

        _local.tokenizer = dictionary.Dictionary(dict="core").create()
    return _local.tokenizer
