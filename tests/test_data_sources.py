"""Fetching: verified downloads (file:// and a local HTTP server), local copies, synthetic
archives; a bad download never reaches the output place."""

import contextlib
import functools
import hashlib
import http.server
import logging
import socket
import threading
import zipfile

import pytest

from cnnlab.data.sources import DataSourceError, fetch_and_extract
from cnnlab.data.synthetic import PETIMAGES_JUNK
from cnnlab.jobio import atomic_output


@pytest.fixture
def archive(tmp_path):
    """A small PetImages-shaped zip somewhere outside the downloads folder, with its size and hashes."""
    path = tmp_path / "server" / "pets.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zip_file:
        zip_file.writestr("PetImages/Cat/1.jpg", b"not really a cat")
        zip_file.writestr("PetImages/Dog/2.jpg", b"not really a dog")
    data = path.read_bytes()
    return {
        "path": path,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


def url_source(address, **pins):
    return {"kind": "url", "address": address, **pins}


def fetch(tmp_path, source, dataset="petimages", **options):
    fetch_and_extract(dataset, source, tmp_path / "downloads", tmp_path / "raw", seed=3, **options)
    return tmp_path / "raw"


def files_under(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_verified_file_url_is_downloaded_and_extracted(tmp_path, archive, caplog):
    caplog.set_level(logging.INFO)
    source = url_source(archive["path"].as_uri(), size=archive["size"], sha256=archive["sha256"])
    raw = fetch(tmp_path, source)
    assert (raw / "PetImages/Cat/1.jpg").read_bytes() == b"not really a cat"
    assert [
        p.relative_to(tmp_path / "downloads").as_posix()
        for p in (tmp_path / "downloads").rglob("*.zip")
    ] == ["pets.zip"]
    assert "sha256 verified" in caplog.text


@pytest.mark.parametrize(
    "bad_pin, message",
    [
        ({"sha256": "0" * 64}, "hash"),
        ({"md5": "f" * 32}, "hash"),
        ({"size": 12345}, "12,345 bytes"),
    ],
)
def test_a_wrong_pin_is_refused_and_leaves_nothing(tmp_path, archive, bad_pin, message):
    source = url_source(archive["path"].as_uri(), **bad_pin)
    with pytest.raises(DataSourceError, match=message):
        fetch(tmp_path, source, retries=0)
    # Neither the archive (nor pooch's temporary file) in the cache, nor an output folder.
    assert files_under(tmp_path / "downloads") == []
    assert not (tmp_path / "raw").exists()
    assert not any(p.name.startswith(".raw") for p in tmp_path.iterdir())


def test_no_hash_pinned_is_said_in_the_log(tmp_path, archive, caplog):
    caplog.set_level(logging.INFO)
    fetch(tmp_path, url_source(archive["path"].as_uri(), size=archive["size"]))
    assert "no hash pinned" in caplog.text


@contextlib.contextmanager
def http_server(folder):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_download_is_verified_with_progress_in_the_log(tmp_path, archive, caplog):
    caplog.set_level(logging.INFO)
    with http_server(archive["path"].parent) as base_url:
        source = url_source(f"{base_url}/pets.zip", size=archive["size"], md5=archive["md5"])
        raw = fetch(tmp_path, source)
    assert (raw / "PetImages/Cat/1.jpg").exists()
    assert "pets.zip: 100%" in caplog.text


def test_an_unreachable_url_says_how_to_use_a_local_copy(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/kagglecatsanddogs_5340.zip"
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, url_source(url, sha256="0" * 64), retries=0)
    assert url in str(error.value)
    assert "data.petimages.source: path" in str(error.value)
    assert "data.petimages.path" in str(error.value)
    assert not (tmp_path / "raw").exists()


def test_a_local_archive_is_verified_and_extracted(tmp_path, archive):
    source = {"kind": "path", "path": str(archive["path"]), "sha256": archive["sha256"]}
    assert (fetch(tmp_path, source) / "PetImages/Cat/1.jpg").exists()


def test_a_local_archive_that_does_not_match_says_what_to_do_and_is_kept(tmp_path, archive):
    source = {"kind": "path", "path": str(archive["path"]), "sha256": "1" * 64}
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, source)
    message = str(error.value)
    assert message.startswith(
        f"{archive['path']}: its sha256 is {archive['sha256']}, but data.petimages.url.sha256 pins {'1' * 64}."
    )
    assert "your file was left as it is" in message
    assert "set data.petimages.url's size and hash to null" in message
    # pooch's "Deleted download for safety" was wrong here: the user's own file is untouched.
    assert "Deleted" not in message
    assert archive["path"].read_bytes() and archive["path"].stat().st_size == archive["size"]
    assert not (tmp_path / "raw").exists()


def test_an_extracted_folder_is_copied(tmp_path):
    folder = tmp_path / "copy"
    for class_name in ("Cat", "Dog"):
        (folder / "PetImages" / class_name).mkdir(parents=True)
        (folder / "PetImages" / class_name / "2.jpg").write_bytes(b"woof")
    raw = fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert (raw / "PetImages/Dog/2.jpg").read_bytes() == b"woof"


def test_a_missing_local_copy_names_the_key(tmp_path):
    with pytest.raises(DataSourceError, match=r"data\.cifar10\.path"):
        fetch(
            tmp_path, {"kind": "path", "path": str(tmp_path / "nowhere.tar.gz")}, dataset="cifar10"
        )


def test_synthetic_archives_are_named_by_their_settings_and_reproducible(tmp_path):
    fetch(tmp_path / "a", {"kind": "synthetic", "images_per_class": 2})
    fetch(tmp_path / "b", {"kind": "synthetic", "images_per_class": 2})
    fetch(tmp_path / "b", {"kind": "synthetic", "images_per_class": 3})
    first = files_under(tmp_path / "a/downloads")
    second = files_under(tmp_path / "b/downloads")
    assert len(first) == 1 and len(second) == 2
    assert (tmp_path / "a/downloads" / first[0]).read_bytes() == (
        tmp_path / "b/downloads" / first[0]
    ).read_bytes()
    # The second fetch into the same place replaced the first extraction.
    cats = list((tmp_path / "b/raw/PetImages/Cat").iterdir())
    assert len(cats) == 3 + len(PETIMAGES_JUNK)


def test_a_failed_write_keeps_the_previous_output_and_leaves_no_partial(tmp_path):
    target = tmp_path / "train.npz"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_output(target) as partial:
        partial.write_text("half written")
        raise RuntimeError("killed")
    assert target.read_text() == "previous"
    assert list(tmp_path.iterdir()) == [target]
