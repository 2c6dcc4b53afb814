"""Retrieval over the municipality's own documents (規程, FAQ, 資料): extraction, Japanese
tokens, a BM25 index, and answers that cite their sources."""
