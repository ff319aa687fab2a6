"""Safe extraction of zip and tar archives: no member may land outside the target folder.

Every member is checked before anything is written, so an archive with one bad member
extracts nothing. Refused: absolute paths, `..` components, and any link or special file
(symlinks, hard links, devices, FIFOs), since a link is how a later member escapes.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder, or is a link."""


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


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> None:
    """Extract a zip, tar or compressed tar (detected from its content) into `target`."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zip_file:
            members = zip_file.infolist()
            _check_zip(archive, members)
            zip_file.extractall(target, members)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar_file:
            members = tar_file.getmembers()
            _check_tar(archive, members)
            # The standard library's own "data" filter is a second line of defence.
            tar_file.extractall(target, members, filter="data")
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")
