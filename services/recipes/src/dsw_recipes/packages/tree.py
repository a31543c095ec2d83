"""The normalised file tree of a package: what its content hash covers and what is stored.

Normalising drops what does not change behaviour (``__pycache__``, ``.pyc`` files, a ``.git``
folder) and unwraps a single top-level folder that is not a Python package (``pkg-1.0/...`` as
GitHub and ``tar`` make it), so the same files give the same hash whether they came zipped,
tarred or from git.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from dsw_recipes.packages.archive import ArchiveError, Limits

_IGNORED_DIRS = {"__pycache__", ".git"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Tree:
    """A normalised package folder, its content hash and size."""

    root: Path
    content_hash: str
    file_count: int
    total_bytes: int


def _files(root: Path) -> list[Path]:
    return sorted(
        (path for path in root.rglob("*") if not path.is_dir() or path.is_symlink()),
        key=lambda path: path.relative_to(root).as_posix(),
    )


def normalise(root: Path, limits: Limits) -> Tree:
    """Clean ``root`` in place, unwrap a lone top folder, check it and hash it."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_symlink():
            raise ArchiveError(
                f"{path.relative_to(root).as_posix()} is a symbolic link; links are not allowed",
                code="link_in_archive",
            )
        if path.is_dir() and path.name in _IGNORED_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(_IGNORED_SUFFIXES):
            path.unlink()
    children = list(root.iterdir())
    # A lone folder that is itself a Python package stays: entry points may name it.
    if len(children) == 1 and children[0].is_dir() and not (children[0] / "__init__.py").exists():
        wrapper = children[0]
        holding = root / f".unwrap-{wrapper.name}"
        wrapper.rename(holding)
        for child in holding.iterdir():
            child.rename(root / child.name)
        holding.rmdir()
    digest = hashlib.sha256()
    count = total = 0
    for path in _files(root):
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            raise ArchiveError(
                f"{path.relative_to(root).as_posix()} is not a regular file", code="special_file"
            )
        count += 1
        if count > limits.max_entries:
            raise ArchiveError(
                f"the package has more than {limits.max_entries} files", code="too_many_entries"
            )
        size = path.stat().st_size
        total += size
        if total > limits.max_unpacked_bytes:
            raise ArchiveError(
                f"the package holds more than {limits.max_unpacked_bytes} bytes",
                code="package_too_large",
            )
        file_digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                file_digest.update(chunk)
        relative = path.relative_to(root).as_posix()
        digest.update(f"{relative}\0{file_digest.hexdigest()}\n".encode())
    if count == 0:
        raise ArchiveError("the package is empty", code="empty_package")
    return Tree(root, digest.hexdigest(), count, total)


def pack(tree: Tree) -> bytes:
    """A reproducible tar.gz of the tree (sorted, no owners, no times): what the lake keeps."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in _files(tree.root):
            info = tarfile.TarInfo(path.relative_to(tree.root).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()
