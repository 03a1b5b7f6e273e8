"""Where the demo keeps its files: a temporary directory, or one the user names."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cardsvc.demo.errors import DemoError


@dataclass(frozen=True, slots=True)
class WorkDir:
    """The demo's directory and the paths inside it."""

    root: Path
    kept: bool

    @property
    def database(self) -> Path:
        return self.root / "city.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def cards(self) -> Path:
        return self.root / "cards"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def secret_file(self, name: str) -> Path:
        """A password or device credential for a program's --password-file/--credential-file."""
        return self.root / f"{name}.secret"

    def script_file(self, name: str) -> Path:
        return self.root / f"{name}.script"


@contextlib.contextmanager
def open_workdir(path: Path | None) -> Iterator[WorkDir]:
    """`path` (created, must be empty of a database), or a temporary directory removed after."""
    if path is None:
        root = Path(tempfile.mkdtemp(prefix="cardsvc-demo-"))
        try:
            yield _prepare(WorkDir(root, kept=False))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    if path.exists() and not path.is_dir():
        raise DemoError(f"--workdir {path}: exists and is not a directory; name a directory")
    work = WorkDir(path.resolve(), kept=True)
    if work.database.exists():
        raise DemoError(
            f"--workdir {path}: holds a database of an earlier demo ({work.database}); "
            "remove the directory or name a new one"
        )
    yield _prepare(work)


def _prepare(work: WorkDir) -> WorkDir:
    for directory in (work.root, work.cards, work.logs):
        directory.mkdir(parents=True, exist_ok=True)
    return work
