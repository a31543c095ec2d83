"""Unpacking uploaded archives (zip, wheel, tar.gz) with every entry checked first.

Refused: absolute paths, ``..`` segments, symbolic and hard links, devices and FIFOs, more entries
than allowed, and more unpacked bytes than allowed (counted while reading, so an archive that lies
about its sizes is caught too). Nothing is written outside the destination folder.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

ArchiveFormat = Literal["zip", "tar.gz"]
_CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """The archive is refused; ``code`` is the problem's stable code."""

    def __init__(self, message: str, code: str = "invalid_archive") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What a package may hold."""

    max_entries: int
    max_unpacked_bytes: int


def detect_format(head: bytes) -> ArchiveFormat:
    """The archive format from its first bytes (a wheel is a zip)."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    raise ArchiveError(
        "the package is not a zip, wheel or tar.gz archive", code="unsupported_archive"
    )


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The entry's path relative to the package root; None for the root itself.

    Raises :class:`ArchiveError` for absolute paths, drive letters, backslashes and ``..``.
    """
    if "\x00" in name or "\\" in name:
        raise ArchiveError(f"entry {name!r} has an invalid character", code="unsafe_path")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"entry {name!r} is an absolute path", code="unsafe_path")
    parts = [part for part in PurePosixPath(name).parts if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise ArchiveError(f"entry {name!r} escapes the package folder", code="unsafe_path")
    if not parts:
        return None
    return PurePosixPath(*parts)


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries = 0
        self.bytes = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveError(
                f"the package has more than {self.limits.max_entries} entries",
                code="too_many_entries",
            )

    def add(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_unpacked_bytes:
            raise ArchiveError(
                f"the package unpacks to more than {self.limits.max_unpacked_bytes} bytes",
                code="package_too_large",
            )


def _copy(source: IO[bytes], target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise ArchiveError(f"entry {target.name!r} appears twice", code="duplicate_entry")
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            budget.add(len(chunk))
            out.write(chunk)


def unpack(content: bytes, destination: Path, limits: Limits) -> ArchiveFormat:
    """Unpack ``content`` into the empty folder ``destination``; the format it had."""
    kind = detect_format(content[:4])
    budget = _Budget(limits)
    if kind == "zip":
        _unpack_zip(content, destination, budget)
    else:
        _unpack_tar(content, destination, budget)
    return kind


def _unpack_zip(content: bytes, destination: Path, budget: _Budget) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError) as error:
        raise ArchiveError(f"the zip archive is damaged: {error}") from error
    with archive:
        entries = archive.infolist()
        if len(entries) > budget.limits.max_entries:
            raise ArchiveError(
                f"the package has more than {budget.limits.max_entries} entries",
                code="too_many_entries",
            )
        declared = sum(entry.file_size for entry in entries)
        if declared > budget.limits.max_unpacked_bytes:
            raise ArchiveError(
                f"the package unpacks to more than {budget.limits.max_unpacked_bytes} bytes",
                code="package_too_large",
            )
        for entry in entries:
            budget.entry()
            relative = safe_relative_path(entry.filename)
            mode = entry.external_attr >> 16
            kind = stat.S_IFMT(mode)  # 0 when the zip tool recorded permissions only
            if stat.S_ISLNK(mode):
                raise ArchiveError(
                    f"entry {entry.filename!r} is a symbolic link; links are not allowed",
                    code="link_in_archive",
                )
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise ArchiveError(
                    f"entry {entry.filename!r} is not a regular file", code="special_file"
                )
            if relative is None:
                continue
            target = destination.joinpath(*relative.parts)
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            try:
                with archive.open(entry) as source:
                    _copy(source, target, budget)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise ArchiveError(f"entry {entry.filename!r} is damaged: {error}") from error


def _unpack_tar(content: bytes, destination: Path, budget: _Budget) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            for member in _members(archive, budget):
                relative = safe_relative_path(member.name)
                if member.issym() or member.islnk():
                    raise ArchiveError(
                        f"entry {member.name!r} is a link; links are not allowed",
                        code="link_in_archive",
                    )
                if not (member.isfile() or member.isdir()):
                    raise ArchiveError(
                        f"entry {member.name!r} is not a regular file", code="special_file"
                    )
                if relative is None:
                    continue
                target = destination.joinpath(*relative.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > budget.limits.max_unpacked_bytes:
                    budget.add(member.size)
                source = archive.extractfile(member)
                if source is None:
                    raise ArchiveError(f"entry {member.name!r} cannot be read")
                with source:
                    _copy(source, target, budget)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"the tar.gz archive is damaged: {error}") from error


def _members(archive: tarfile.TarFile, budget: _Budget) -> Iterator[tarfile.TarInfo]:
    # Read headers one at a time (never archive.getmembers()): an entry-count bomb stops early.
    while True:
        member = archive.next()
        if member is None:
            return
        budget.entry()
        yield member
