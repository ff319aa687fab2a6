"""Fetch a data set from its configured source and extract it safely into place.

A source is one of (see `rules/common.smk:data_source`):

* ``{"kind": "url", "address": ..., "size": ..., "sha256" or "md5": ...}``: downloaded
  with pooch into the downloads folder (a cache: a verified copy is never fetched twice; an
  unverified one is kept under a name made from its URL, so another URL never reuses it).
  Plain http and ftp need a pinned hash: anyone on the way could swap the archive unseen;
* ``{"kind": "path", "path": ...}``: a local copy, either the archive or the folder it
  extracts to (offline clusters); an archive is verified when size or hash are given;
* ``{"kind": "synthetic", **settings}``: a generated archive of the same shape.

Whatever the source, the archive is extracted within limits (`cnnlab.data.extract`), the
extracted tree must look like the data set (PetImages' Cat/ and Dog/, CIFAR-10's batch files),
and it appears at `out_dir` in one rename, so a failed or interrupted job never leaves a
half-filled output behind.
"""

from __future__ import annotations

import csv
import ftplib
import functools
import hashlib
import logging
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pooch

from cnnlab.data import synthetic
from cnnlab.data.extract import MAX_BYTES, MAX_RATIO, safe_copy_folder, safe_extract
from cnnlab.jobio import ExpectedError, atomic_output, explain_write_error

log = logging.getLogger(__name__)

DOWNLOAD_RETRIES = 3
DOWNLOAD_CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60
# Schemes that carry the archive unencrypted: only a pinned hash tells a swapped one.
PLAINTEXT_SCHEMES = ("http", "ftp")
# What each data set's archive is, for messages about a wrong one.
ARCHIVE_NAMES = {
    "petimages": "the PetImages archive (kagglecatsanddogs_5340.zip)",
    "cifar10": "the CIFAR-10 binary archive (cifar-10-binary.tar.gz)",
}


class DataSourceError(ExpectedError, RuntimeError):
    """A data set could not be fetched or verified; the message says what to change."""


def fetch_and_extract(
    dataset, source, downloads_dir, out_dir, seed, *, retries=DOWNLOAD_RETRIES, extract_limits=None
):
    """Fetch `dataset` from `source` and extract (or copy) it to `out_dir`.

    `seed` only matters for synthetic sources; `retries` is how many times a failed
    download is tried again (with a growing pause) before giving up; `extract_limits` is
    config's data.extract ({"max_bytes": ..., "max_ratio": ...}).
    """
    downloads_dir, out_dir = Path(downloads_dir), Path(out_dir)
    kind = source["kind"]
    if kind == "url":
        archive = _download(dataset, source, downloads_dir, retries)
    elif kind == "path":
        archive = Path(source["path"]).expanduser()
        if not archive.exists():
            raise DataSourceError(
                f"data.{dataset}.path: {archive} does not exist; point it at a local copy of "
                f"the archive or at the folder it extracts to"
            )
        if archive.is_file():
            _verify(archive, source, dataset)
        else:
            log.info("Copying the already extracted folder %s (nothing to verify)", archive)
    elif kind == "synthetic":
        archive = _generate(dataset, source, downloads_dir, seed)
    else:
        raise DataSourceError(
            f"data.{dataset}.source is '{kind}'; it must be one of: url, path, synthetic"
        )
    _extract_into_place(dataset, source, archive, out_dir, extract_limits or {})
    log.info("%s is ready in %s", dataset, out_dir)


def _pinned_hash(source):
    """The hash pooch verifies, as "algorithm:hex", or None when none is pinned."""
    for algorithm in ("sha256", "md5"):
        if source.get(algorithm):
            return f"{algorithm}:{source[algorithm]}"
    return None


def _check_size(path, expected_size, origin):
    if expected_size is not None and os.path.getsize(path) != expected_size:
        raise ValueError(
            f"{origin}: expected {expected_size:,} bytes, got {os.path.getsize(path):,} "
            f"(an incomplete or different file)"
        )


def plaintext_without_hash_problem(dataset, url_entry):
    """Why `url_entry` (config's data.<dataset>.url) must not be fetched as it is, or None."""
    scheme = urllib.parse.urlparse(url_entry["address"]).scheme
    if scheme in PLAINTEXT_SCHEMES and not _pinned_hash(url_entry):
        return (
            f"{url_entry['address']} is plain {scheme} with no hash pinned, so a changed or swapped "
            f"archive would go unseen; pin its hash (data.{dataset}.url.sha256 or .md5), or use an "
            f"https address"
        )
    return None


def _verify(path, source, dataset):
    """Check a local archive against the pinned size and hash; say so when none is pinned.
    The user's file is left as it is, whatever the verdict."""
    known_hash = _pinned_hash(source)
    advice = (
        f"data.{dataset}.path should be a copy of the archive at data.{dataset}.url (your file was "
        f"left as it is); if it is a different one on purpose, set data.{dataset}.url's size and "
        f"hash to null."
    )
    try:
        _check_size(path, source.get("size"), str(path))
    except ValueError as error:
        raise DataSourceError(f"{error}. {advice}") from error
    if known_hash:
        algorithm, expected = known_hash.split(":")
        actual = pooch.file_hash(str(path), alg=algorithm)
        if actual != expected.lower():
            raise DataSourceError(
                f"{path}: its {algorithm} is {actual}, but data.{dataset}.url.{algorithm} pins "
                f"{expected}. {advice}"
            )
    _log_verification(path, known_hash)


def _log_verification(path, known_hash):
    if known_hash:
        log.info("%s: %s verified", path, known_hash.split(":")[0])
    else:
        log.warning("%s: no hash pinned, so its content is not verified", path)


class _LogProgress:
    """A pooch progress bar that writes a line to the log at every tenth of the download."""

    def __init__(self, label):
        self.label = label
        self.total = 0
        self.done = 0
        self.tenths_logged = 0

    def update(self, n_bytes):
        self.done += n_bytes
        if self.total:
            tenths = min(10, self.done * 10 // self.total)
            if tenths > self.tenths_logged:
                self.tenths_logged = tenths
                log.info("%s: %d%% of %.1f MB", self.label, tenths * 10, self.total / 1e6)

    def reset(self):
        self.done = 0

    def close(self):
        pass


def _copy_file_url(url, output_file, pooch_instance):
    """A pooch downloader for file:// URLs (pooch has none), so they take the same path."""
    shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), output_file)


def _downloader_for(url, file_name):
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        return _copy_file_url
    if scheme in ("http", "https"):
        return pooch.HTTPDownloader(
            progressbar=_LogProgress(file_name),
            chunk_size=DOWNLOAD_CHUNK_BYTES,
            timeout=DOWNLOAD_TIMEOUT_S,
        )
    return pooch.choose_downloader(url, progressbar=_LogProgress(file_name))


def _cache_folder(downloads_dir, url, known_hash):
    """Where the download of `url` is cached. A verified copy is found by its name (the hash
    proves it is the right file); an unverified one only by its URL, so that two URLs ending
    in the same file name never share a copy."""
    if known_hash:
        return downloads_dir
    return downloads_dir / "unverified" / hashlib.sha256(url.encode()).hexdigest()[:16]


def _download(dataset, source, downloads_dir, retries):
    url = source["address"]
    problem = plaintext_without_hash_problem(dataset, source)
    if problem:
        raise DataSourceError(f"data.{dataset}.url.address: {problem}")
    file_name = Path(urllib.parse.urlparse(url).path).name
    known_hash = _pinned_hash(source)
    cache_folder = _cache_folder(downloads_dir, url, known_hash)
    fetch_bytes = _downloader_for(url, file_name)

    def fetch_and_check_size(url, output_file, pooch_instance):
        # Runs on pooch's temporary file, before it is moved into place: a short download
        # raises ValueError, which pooch retries and, in the end, deletes.
        fetch_bytes(url, output_file, pooch_instance)
        _check_size(output_file, source.get("size"), url)

    # Pooch downloads to a temporary file beside the target, verifies it, then moves it into
    # place; on failure it retries with a growing pause (1 s, 2 s, ... up to 10 s).
    cache = pooch.create(
        path=cache_folder,
        base_url="",
        registry={file_name: known_hash},
        urls={file_name: url},
        retry_if_failed=retries,
    )
    try:
        archive = Path(cache.fetch(file_name, downloader=fetch_and_check_size))
    except ValueError as error:  # a hash or size mismatch, after every retry
        raise DataSourceError(f"Download of {url} failed verification: {error}") from error
    except (OSError, ftplib.Error) as error:  # requests' errors are OSErrors too
        explained = (
            explain_write_error(error, cache_folder) if isinstance(error, OSError) else error
        )
        if explained is not error:  # a full disk or a folder we may not write: not the network
            raise explained from error
        raise DataSourceError(
            f"Could not download {url}: {error}. To use a local copy instead, set "
            f"data.{dataset}.source: path and data.{dataset}.path: /local/copy/{file_name} "
            f"(or the folder it extracts to)."
        ) from error
    # With no hash pinned, pooch reuses a cached file unchecked: check its size at least.
    if known_hash is None:
        try:
            _check_size(archive, source.get("size"), str(archive))
        except ValueError as error:
            archive.unlink()
            raise DataSourceError(f"{error}; removed it, run again to download afresh") from error
    _log_verification(archive, known_hash)
    log.info("Archive: %s (%s bytes)", archive, f"{archive.stat().st_size:,}")
    return archive


def _generate(dataset, source, downloads_dir, seed):
    """Write the synthetic archive to downloads_dir, named after its settings so that runs
    with other settings never collide. It takes a second, so it is never cached."""
    if dataset == "petimages":
        archive = (
            downloads_dir / f"synthetic-petimages-{source['images_per_class']}pc-seed{seed}.zip"
        )
        write = functools.partial(
            synthetic.write_petimages_zip, images_per_class=source["images_per_class"], seed=seed
        )
    elif dataset == "cifar10":
        archive = downloads_dir / (
            f"synthetic-cifar10-{source['train_images']}train-{source['test_images']}test-seed{seed}.tar.gz"
        )
        write = functools.partial(
            synthetic.write_cifar10_tar,
            train_images=source["train_images"],
            test_images=source["test_images"],
            seed=seed,
        )
    else:
        raise DataSourceError(f"There is no synthetic generator for data set '{dataset}'")
    with atomic_output(archive) as partial:
        write(partial)
    log.info("Generated %s (%s bytes)", archive, f"{archive.stat().st_size:,}")
    return archive


def _layout_problem(dataset, folder, subject):
    """What is wrong with `folder` as the extracted `dataset`, or None. The download job is the
    first that can tell a wrong archive: say so here, not at cleaning."""
    if dataset == "petimages":
        from cnnlab.data.petimages import layout_problem
    elif dataset == "cifar10":
        from cnnlab.data.cifar10 import layout_problem
    else:
        return None
    return layout_problem(folder, subject)


def _write_extraction_notes(folder, notes):
    """The members extraction could not keep, for the cleaning manifest (and the log)."""
    from cnnlab.data.petimages import EXTRACTION_NOTES

    for member, note in notes:
        log.warning("%s: %s", member, note)
    with open(Path(folder) / EXTRACTION_NOTES, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["member", "note"])
        writer.writerows(notes)


def _extract_into_place(dataset, source, archive, out_dir, limits):
    max_bytes = limits.get("max_bytes", MAX_BYTES)
    with atomic_output(out_dir, directory=True) as partial:
        if archive.is_dir():
            # A folder gets what an archive gets: no link followed out of it, the size cap,
            # the free-space check (cnnlab.data.extract).
            safe_copy_folder(archive, partial, max_bytes=max_bytes)
        else:
            log.info("Extracting %s", archive)
            notes = safe_extract(
                archive, partial, max_bytes=max_bytes, max_ratio=limits.get("max_ratio", MAX_RATIO)
            )
            if notes:
                _write_extraction_notes(partial, notes)
        problem = _layout_problem(dataset, partial, subject=str(archive))
        if problem:
            raise DataSourceError(
                f"{problem}. Point data.{dataset}.{source['kind']} at {ARCHIVE_NAMES[dataset]} "
                f"or the folder it extracts to."
            )
