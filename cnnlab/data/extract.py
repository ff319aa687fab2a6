"""Safe extraction of zip and tar archives: no member may land outside the target folder.

Every member is checked before anything is written, so an archive with one bad member
extracts nothing. Refused: absolute paths, `..` components, and any link or special file
(symlinks, hard links, devices, FIFOs), since a link is how a later member escapes. Also
refused, from the sizes the members declare: more bytes than a cap, more than the free disk
space, or too many bytes per archive byte (a zip or tar bomb: 2 MB of zip, 2 GiB of zeros).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath


# The schema's defaults for data.extract: both real archives extract to under 1 GB at a ratio
# near 1 (JPEGs and CIFAR-10's bytes hardly compress); a bomb's ratio is near 1000.
MAX_BYTES = 10_000_000_000
MAX_RATIO = 100


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder, or is a link."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """An archive declares more bytes than the cap, the free disk space or a sane ratio allow."""


class _SizeLimits:
    """Adds up the sizes members declare and refuses as soon as the total is too large, so a
    tar bomb is refused at the member that crosses the line, before the rest is read."""

    def __init__(self, archive: Path, target: Path, max_bytes: int, max_ratio: float):
        self.archive, self.max_bytes, self.max_ratio = archive, max_bytes, max_ratio
        self.archive_bytes = max(1, archive.stat().st_size)
        self.free_bytes = shutil.disk_usage(target).free
        self.folder = target.parent
        self.total = 0

    def add(self, member_bytes: int) -> None:
        self.total += member_bytes
        if self.total > self.max_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members declare over {self.total:,} bytes once extracted, more than "
                f"data.extract.max_bytes = {self.max_bytes:,}; refusing to extract. If the archive is "
                f"genuine, raise data.extract.max_bytes."
            )
        if self.total > self.max_ratio * self.archive_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members declare over {self.total:,} bytes from {self.archive_bytes:,} "
                f"bytes of archive, more than data.extract.max_ratio = {self.max_ratio:g} times its size "
                f"(a zip or tar bomb); refusing to extract. If the archive is genuine, raise "
                f"data.extract.max_ratio."
            )
        if self.total > self.free_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members declare over {self.total:,} bytes once extracted, but only "
                f"{self.free_bytes:,} bytes are free in {self.folder.absolute()}; free space there, or run "
                f"the workflow on a bigger disk (snakemake --directory /bigger/disk)."
            )


def _check_member_name(archive: Path, name: str) -> None:
    # Zip files written on Windows may use backslashes; treat them as separators for the
    # check, so `..\\evil` cannot slip past a POSIX-only reading of the name.
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        raise UnsafeArchiveError(f"{archive}: member '{name}' has an absolute path; refusing to extract")
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member '{name}' escapes the target folder (..); refusing to extract")


def _check_zip(archive: Path, members: list[zipfile.ZipInfo]) -> None:
    for member in members:
        _check_member_name(archive, member.filename)
        # Unix permission bits (and so the file type) live in the high half of external_attr.
        file_type = stat.S_IFMT(member.external_attr >> 16)
        if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.filename}' is a link or special file; refusing to extract"
            )


def _check_tar(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        _check_member_name(archive, member.name)
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' is a link or special file; refusing to extract"
            )


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    max_bytes: int = MAX_BYTES,
    max_ratio: float = MAX_RATIO,
) -> None:
    """Extract a zip, tar or compressed tar (detected from its content) into `target`.

    Refused before anything is written: members that escape `target` or are links, and
    archives whose members declare more than `max_bytes`, more than `max_ratio` times the
    archive's own size, or more than the free space where `target` lives.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    limits = _SizeLimits(archive, target, max_bytes, max_ratio)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zip_file:
            members = zip_file.infolist()
            _check_zip(archive, members)
            # A member's declared size is what zipfile lets it grow to when extracted.
            for member in members:
                limits.add(member.file_size)
            zip_file.extractall(target, members)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar_file:
            members = []
            for member in tar_file:  # reads headers one by one: a bomb stops at its first big member
                limits.add(member.size)
                members.append(member)
            _check_tar(archive, members)
            # The standard library's own "data" filter is a second line of defence.
            tar_file.extractall(target, members, filter="data")
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")
