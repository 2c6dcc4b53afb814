"""An in-memory BM25 index over the passages in the database, rebuilt when they change.

Scoring is vectorised with numpy, so a question over 100,000 passages takes milliseconds.
Kana-reading bigrams (terms starting with "~") count for less than whole words.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import orjson

from handlers.retrieval.tokens import query_terms
from store import documents

K1, B = 1.2, 0.75
READING_WEIGHT = 0.3


@dataclass(frozen=True)
class Hit:
    passage_id: int
    score: float


@dataclass(frozen=True)
class Viewer:
    """Whose search this is: restricted documents need a matching department or role."""

    department: str | None = None
    roles: tuple[str, ...] = ()


class PassageIndex:
    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0, dtype=np.float32)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # (departments, roles) allowed -> the slots of passages so restricted
        self.restricted: dict[tuple[frozenset[str], frozenset[str]], np.ndarray] = {}
        self.average = 1.0
        self.generation: tuple | None = None
        self.vector_slots = np.zeros(0, dtype=np.int64)  # slot of each row of `matrix`
        self.matrix: np.ndarray | None = None

    def attach_vectors(self, rows: list[tuple[int, bytes]]) -> None:
        slot_of = {int(pid): slot for slot, pid in enumerate(self.ids)}
        kept = [(slot_of[pid], vector) for pid, vector in rows if pid in slot_of]
        if not kept:
            return
        self.vector_slots = np.asarray([slot for slot, _ in kept], dtype=np.int64)
        self.matrix = np.vstack([np.frombuffer(v, dtype=np.float32) for _, v in kept])

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str, str, str, str]]) -> PassageIndex:
        index = cls()
        ids: list[int] = []
        lengths: list[int] = []
        postings: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        restricted: dict[tuple[frozenset[str], frozenset[str]], list[int]] = defaultdict(list)
        for row_id, _source, terms, departments, roles in rows:
            slot = len(ids)
            ids.append(row_id)
            words = terms.split()
            lengths.append(len(words))
            counts: dict[str, int] = {}
            for word in words:
                counts[word] = counts.get(word, 0) + 1
            for word, count in counts.items():
                slots, tfs = postings[word]
                slots.append(slot)
                tfs.append(count)
            allowed_departments = frozenset(orjson.loads(departments))
            allowed_roles = frozenset(orjson.loads(roles))
            if allowed_departments or allowed_roles:
                restricted[(allowed_departments, allowed_roles)].append(slot)
        index.ids = np.asarray(ids, dtype=np.int64)
        index.lengths = np.asarray(lengths, dtype=np.float32)
        index.restricted = {key: np.asarray(slots, dtype=np.int32)
                            for key, slots in restricted.items()}
        index.average = float(index.lengths.mean()) if lengths else 1.0
        index.postings = {w: (np.asarray(s, dtype=np.int32), np.asarray(t, dtype=np.float32))
                          for w, (s, t) in postings.items()}
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def allowed(self, viewer: Viewer) -> np.ndarray:
        mask = np.ones(len(self.ids), dtype=bool)
        for (departments, roles), slots in self.restricted.items():
            if not (viewer.department in departments or roles.intersection(viewer.roles)):
                mask[slots] = False
        return mask

    def dense(self, query: np.ndarray, viewer: Viewer, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the nearest passages the viewer may read."""
        if self.matrix is None or not len(self.vector_slots):
            return []
        similarity = self.matrix @ query
        similarity[~self.allowed(viewer)[self.vector_slots]] = -1.0
        best = np.argsort(-similarity)[:k]
        return [(int(self.ids[self.vector_slots[i]]), float(similarity[i])) for i in best
                if similarity[i] > 0]

    def search(self, question: str, viewer: Viewer, k: int = 5) -> list[Hit]:
        total = len(self.ids)
        if not total:
            return []
        scores = np.zeros(total, dtype=np.float32)
        norm = K1 * (1 - B + B * self.lengths / self.average)
        for word in set(query_terms(question)):
            found = self.postings.get(word)
            if found is None:
                continue
            slots, tfs = found
            idf = math.log(1 + (total - len(slots) + 0.5) / (len(slots) + 0.5))
            weight = READING_WEIGHT if word.startswith("~") else 1.0
            scores[slots] += weight * idf * tfs * (K1 + 1) / (tfs + norm[slots])
        for (departments, roles), slots in self.restricted.items():
            if not (viewer.department in departments or roles.intersection(viewer.roles)):
                scores[slots] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return []
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [Hit(int(self.ids[s]), float(scores[s])) for s in ordered]


class Retriever:
    """Keeps a PassageIndex in step with the database (rebuilt when passages change)."""

    def __init__(self, engine, model: str | None = None) -> None:
        self.engine = engine
        self.model = model  # the embeddings model, when a dense score is configured
        self.index = PassageIndex()
        self._lock = threading.Lock()

    def refresh(self) -> PassageIndex:
        current = documents.generation(self.engine)
        vectors = documents.load_vectors(self.engine, self.model) if self.model else []
        with self._lock:
            if self.index.generation != (current, len(vectors)):
                index = PassageIndex.build(documents.iter_passage_terms(self.engine))
                index.attach_vectors(vectors)
                index.generation = (current, len(vectors))
                self.index = index
            return self.index

    def search(self, question: str, viewer: Viewer, k: int = 5,
               query_vector: np.ndarray | None = None) -> list[dict]:
        """The best passages with their source, heading, page and score (BM25; with a query
        vector also the cosine `similarity`, the two rankings fused)."""
        index = self.refresh()
        hits = index.search(question, viewer, max(k, 20) if query_vector is not None else k)
        scores = {h.passage_id: h.score for h in hits}
        similarity: dict[int, float] = {}
        order = [h.passage_id for h in hits][:k]
        if query_vector is not None:
            nearest = index.dense(query_vector, viewer, 20)
            similarity = dict(nearest)
            from handlers.retrieval.dense import fuse

            order = fuse([h.passage_id for h in hits], [pid for pid, _ in nearest], k)
        found = documents.passages_by_id(self.engine, order)
        return [{**found[pid], "score": round(scores.get(pid, 0.0), 3),
                 "similarity": round(similarity.get(pid, 0.0), 3)}
                for pid in order if pid in found]
