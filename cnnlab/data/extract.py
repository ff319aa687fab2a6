"""Safe extraction of zip and tar archives: no member may land outside the target folder.

Every member is checked before anything is written, so an archive with one bad member
extracts nothing. Refused: absolute paths, `..` components, and any link or special file
(symlinks, hard links, devices, FIFOs), since a link is how a later member escapes. Also
refused, from the sizes the members declare: more bytes than a cap, more than the free disk
space, or too many bytes per archive byte (a zip or tar bomb: 2 MB of zip, 2 GiB of zeros).
Members sharing a name (the last one extracted wins) are returned as notes for the manifest.

An already extracted folder given as the source gets the same safeguards (`safe_copy_folder`):
no link is followed out of it or into a loop, and its size is checked against the cap and the
free space before anything is copied.
"""

from __future__ import annotations

import collections
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from cnnlab.jobio import ExpectedError

# The schema's defaults for data.extract: both real archives extract to under 1 GB at a ratio
# near 1 (JPEGs and CIFAR-10's bytes hardly compress); a bomb's ratio is near 1000.
MAX_BYTES = 10_000_000_000
MAX_RATIO = 100


class UnsafeArchiveError(ExpectedError, ValueError):
    """An archive member would be written outside the extraction folder, or is a link."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """An archive declares more bytes than the cap, the free disk space or a sane ratio allow."""


class _SizeLimits:
    """Adds up the sizes members declare and refuses as soon as the total is too large, so a
    tar bomb is refused at the member that crosses the line, before the rest is read. A folder
    (whose bytes are its own, not compressed) has no ratio to check: max_ratio None."""

    def __init__(self, archive: Path, target: Path, max_bytes: int, max_ratio: float | None):
        self.archive, self.max_bytes, self.max_ratio = archive, max_bytes, max_ratio
        self.archive_bytes = max(1, archive.stat().st_size)
        self.free_bytes = shutil.disk_usage(target).free
        self.folder = target.parent
        self.total = 0
        if max_ratio is None:
            self.holds, self.refusing = (
                "its files hold over {:,} bytes",
                "refusing to copy. If the folder",
            )
        else:
            self.holds = "its members declare over {:,} bytes once extracted"
            self.refusing = "refusing to extract. If the archive"

    def add(self, member_bytes: int) -> None:
        self.total += member_bytes
        holds = self.holds.format(self.total)
        if self.total > self.max_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: {holds}, more than data.extract.max_bytes = {self.max_bytes:,}; "
                f"{self.refusing} is genuine, raise data.extract.max_bytes."
            )
        if self.max_ratio is not None and self.total > self.max_ratio * self.archive_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: its members declare over {self.total:,} bytes from {self.archive_bytes:,} "
                f"bytes of archive, more than data.extract.max_ratio = {self.max_ratio:g} times its size "
                f"(a zip or tar bomb); refusing to extract. If the archive is genuine, raise "
                f"data.extract.max_ratio."
            )
        if self.total > self.free_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: {holds}, but only {self.free_bytes:,} bytes are free in "
                f"{self.folder.absolute()}; free space there, or run the workflow on a bigger disk "
                f"(snakemake --directory /bigger/disk)."
            )


def _check_member_name(archive: Path, name: str) -> None:
    # Zip files written on Windows may use backslashes; treat them as separators for the
    # check, so `..\\evil` cannot slip past a POSIX-only reading of the name.
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        raise UnsafeArchiveError(
            f"{archive}: member '{name}' has an absolute path; refusing to extract"
        )
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: member '{name}' escapes the target folder (..); refusing to extract"
        )


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


def _duplicate_notes(names: list[str]) -> list[tuple[str, str]]:
    """(member name, note) for every name the archive holds more than once: extraction writes
    each in turn, so only the last survives."""
    counts = collections.Counter(name.rstrip("/") for name in names)
    return [
        (
            name,
            f"duplicate member name in the archive: {count} members are named {name}; "
            f"only the last was extracted, the other {count - 1} lost; rename them in the archive to keep all",
        )
        for name, count in sorted(counts.items())
        if count > 1
    ]


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    max_bytes: int = MAX_BYTES,
    max_ratio: float = MAX_RATIO,
) -> list[tuple[str, str]]:
    """Extract a zip, tar or compressed tar (detected from its content) into `target`.

    Refused before anything is written: members that escape `target` or are links, and
    archives whose members declare more than `max_bytes`, more than `max_ratio` times the
    archive's own size, or more than the free space where `target` lives. Returns
    (member name, note) pairs for what extraction could not keep (duplicate names).
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
        return _duplicate_notes([member.filename for member in members if not member.is_dir()])
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar_file:
            members = []
            for (
                member
            ) in tar_file:  # reads headers one by one: a bomb stops at its first big member
                limits.add(member.size)
                members.append(member)
            _check_tar(archive, members)
            # The standard library's own "data" filter is a second line of defence.
            tar_file.extractall(target, members, filter="data")
        return _duplicate_notes([member.name for member in members if member.isfile()])
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")


def _link_problem(folder: Path, link: Path) -> str | None:
    """Why the link `link` inside `folder` must not be followed, or None (a link to a file
    inside the folder, whose bytes are copied)."""
    shown = link.relative_to(folder).as_posix()
    try:
        resolved = link.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, or a loop of links (ELOOP)
        return f"'{shown}' is a link that leads nowhere or into a loop ({os.readlink(link)})"
    if not resolved.is_relative_to(folder.resolve()):
        return f"'{shown}' is a link out of the folder (to {resolved})"
    if resolved.is_dir():
        return (
            f"'{shown}' is a link to a folder ({resolved}): a loop, or a second copy of the images"
        )
    if not resolved.is_file():
        return f"'{shown}' is a link to a special file ({resolved})"
    return None


def safe_copy_folder(
    folder: str | os.PathLike, target: str | os.PathLike, max_bytes: int = MAX_BYTES
) -> None:
    """Copy an already extracted `folder` into `target` with an archive's safeguards.

    Refused before anything is copied: links out of the folder, to folders (loops), dangling
    or looping links, special files (FIFOs, devices), unreadable files, and more than `max_bytes` or than the
    free space where `target` lives. A link to a file inside the folder is copied as that
    file's bytes. A full disk while copying is an OutputWriteError (cnnlab.jobio) from the
    caller's atomic_output, naming the folder.
    """
    folder, target = Path(folder), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    limits = _SizeLimits(folder, target, max_bytes, max_ratio=None)
    files, folders, refusals = [], [], []

    def unlistable(error):  # os.walk would skip a folder it cannot list, and its images with it
        refusals.append(
            f"'{Path(error.filename).relative_to(folder).as_posix()}' cannot be listed ({error.strerror})"
        )

    for parent, dir_names, file_names in os.walk(
        folder, onerror=unlistable
    ):  # never follows links to folders
        parent = Path(parent)
        for name in sorted(dir_names + file_names):
            path = parent / name
            if path.is_symlink():
                problem = _link_problem(folder, path)
                if problem:
                    refusals.append(problem)
                    continue
            if path.is_dir():
                folders.append(path)
            elif path.is_file() and not os.access(path, os.R_OK):
                # Refused here: copying would fail half-way with a PermissionError that reads
                # like a problem with the results folder.
                refusals.append(
                    f"'{path.relative_to(folder).as_posix()}' cannot be read (no permission); chmod u+r it"
                )
            elif path.is_file():
                files.append(path)
            else:
                refusals.append(
                    f"'{path.relative_to(folder).as_posix()}' is a special file (a FIFO, socket or device)"
                )
    if refusals:
        shown = "; ".join(refusals[:5]) + (
            f"; and {len(refusals) - 5} more" if len(refusals) > 5 else ""
        )
        raise UnsafeArchiveError(
            f"{folder}: {shown}. Refusing to copy the folder: fix each of these first (replace a link by "
            f"the file itself, cp -L), or point the source at the archive"
        )
    for path in files:
        limits.add(path.stat().st_size)
    for path in folders:
        (target / path.relative_to(folder)).mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, target / path.relative_to(folder))
