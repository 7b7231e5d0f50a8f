"""Where a recommender run keeps its artefacts, and the title vectors served from them.

Each run writes ``$RECDB_HOME/models/<run_id>/``: ``model.npz`` (the fitted model, read
by :func:`recommender.model.load_model`), ``run.json`` (what ran) and
``title_vectors.npz`` (the titles' unit vectors: what similar titles are computed from).
The recommender writes them (:mod:`recommender.model`); the web API, which serves
similar titles, reads them here with numpy alone, without scipy or the models' libraries.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recdb.core import landing
from recdb.core.errors import ModelNotFoundError, RecommenderError, UnknownTitleError
from recdb.core.settings import recdb_home

MODEL_FILE = "model.npz"
#: The ranker's own arrays are saved in model.npz under this prefix.
MODEL_PREFIX = "model."
RUN_FILE = "run.json"
TITLE_VECTORS_FILE = "title_vectors.npz"
RUN_ID_PATTERN = re.compile(f"^{landing.RUN_ID_PATTERN}$")


#: Modes of what a run saves: the models hold who watched what, so only their owner reads them.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def models_dir() -> Path:
    """Where runs keep their artefacts: ``$RECDB_HOME/models``."""
    return recdb_home() / "models"


def private_models_dir() -> Path:
    """:func:`models_dir`, created readable by its owner only (0700) if missing; one that
    an older recdb made 0755 is tightened to 0700."""
    root = models_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    private_dir(root)
    return root


def private_dir(path: Path, *, exclusive: bool = False) -> None:
    """Create ``path`` with mode 0700 (FileExistsError if ``exclusive`` and it exists);
    an existing folder is tightened to 0700."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        if exclusive or not path.is_dir():
            raise
        if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
            path.chmod(PRIVATE_DIR_MODE)


def write_private(path: Path, write: Any) -> None:
    """Write ``path`` atomically, its bytes never readable by others: ``write(file)`` fills
    a partial file created 0600 (not chmod-ed later), which then replaces ``path``."""
    partial = path.with_name(f".{path.name}.partial")
    # A partial left by a crash may have other modes: start from a new file (O_EXCL also
    # refuses to follow a link planted in its place).
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as out:
        write(out)
    os.replace(partial, path)


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is 1 to 64 letters, digits, ``_``, ``.``, ``:`` or ``-``."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise RecommenderError(
            f"run id {run_id!r}: use 1 to 64 letters, digits, '_', '.', ':' or '-'"
        )
    return run_id


def run_folders() -> list[Path]:
    root = models_dir()
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if (p / MODEL_FILE).is_file() and (p / RUN_FILE).is_file()]


def latest_run_id() -> str:
    """The run id of the newest saved model; ModelNotFoundError when there is none."""
    folders = run_folders()
    if not folders:
        raise ModelNotFoundError(
            f"no saved model under {models_dir()}: run `recdb recommend` first"
        )

    def created(folder: Path) -> tuple[str, float]:
        try:
            info = json.loads((folder / RUN_FILE).read_text())
        except (OSError, ValueError):
            info = {}
        return str(info.get("created_at", "")), (folder / MODEL_FILE).stat().st_mtime

    return max(folders, key=created).name


@dataclass(frozen=True)
class TitleVectors:
    """A run's titles (sorted ids) and their unit vectors (rows of length 1, or 0 for a
    title the model knows nothing of): cosine similarity is their dot product."""

    run_id: str | None
    title_ids: np.ndarray
    unit: np.ndarray

    @classmethod
    def of(cls, run_id: str | None, title_ids: np.ndarray, vectors: np.ndarray) -> TitleVectors:
        """The unit vectors of a model's ``vectors`` (a row per title of ``title_ids``)."""
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        return cls(run_id, title_ids, vectors / norms[:, None])

    @classmethod
    def load(cls, run_id: str | None = None) -> TitleVectors:
        """Those saved by run ``run_id`` (default: the newest run)."""
        run_id = latest_run_id() if run_id is None else check_run_id(run_id)
        path = models_dir() / run_id / TITLE_VECTORS_FILE
        if not path.is_file():
            raise ModelNotFoundError(
                f"run {run_id!r} saved no title vectors under {models_dir()} (a run of an "
                "older recdb?): run `recdb recommend` again"
            )
        with np.load(path, allow_pickle=False) as data:
            return cls(run_id, data["title_ids"].astype(object), data["unit"])

    def save(self, folder: Path) -> None:
        """Write :data:`TITLE_VECTORS_FILE` into ``folder``, readable by its owner only."""
        write_private(
            folder / TITLE_VECTORS_FILE,
            lambda out: np.savez(out, title_ids=self.title_ids.astype(str), unit=self.unit),
        )

    def title_index(self, title_id: str) -> int:
        """Row of ``title_id``; UnknownTitleError if the run has no such title."""
        at = int(np.searchsorted(self.title_ids, title_id))
        if at < len(self.title_ids) and self.title_ids[at] == title_id:
            return at
        raise UnknownTitleError(title_id, where=f"the model of run {self.run_id}")

    def similar(self, title_id: str, k: int = 10) -> pd.DataFrame:
        """The ``k`` titles closest (cosine) to ``title_id``, the title itself left out, ties
        by title order: columns rank, title_id, similarity (-1 to 1)."""
        index = self.title_index(title_id)
        similarity = self.unit @ self.unit[index]
        similarity[index] = -np.inf
        count = min(k, len(similarity) - 1)
        order = np.lexsort((np.arange(len(similarity)), -similarity))[:count]
        return pd.DataFrame(
            {
                "rank": np.arange(1, count + 1),
                "title_id": self.title_ids[order],
                "similarity": similarity[order].astype(np.float64),
            }
        )
