"""The dense score: passages and questions embedded by an OpenAI-compatible embeddings
endpoint, compared by cosine similarity and fused with BM25 by reciprocal rank."""

from __future__ import annotations

import numpy as np

RRF_K = 60  # the usual constant of reciprocal-rank fusion


class Embedder:
    def __init__(self, *, base_url: str | None, api_key: str | None, model: str,
                 timeout: float = 30.0) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self.client = AsyncOpenAI(base_url=base_url or None, api_key=api_key or "not-needed",
                                  timeout=timeout, max_retries=2)

    async def embed(self, texts: list[str]) -> np.ndarray:
        response = await self.client.embeddings.create(model=self.model, input=texts)
        matrix = np.asarray([item.embedding for item in sorted(response.data, key=lambda d: d.index)],
                            dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)


def fuse(lexical: list[int], dense: list[int], k: int) -> list[int]:
    """Passage ids ranked by reciprocal-rank fusion of two rankings."""
    scores: dict[int, float] = {}
    for ranking in (lexical, dense):
        for rank, pid in enumerate(ranking):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda pid: -scores[pid])[:k]
