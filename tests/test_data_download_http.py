"""Downloads over a real (local) HTTP server that fails on purpose: a failed first request is
retried, a failure with no retries left is a clear error and leaves nothing half-written, a
verified archive is never fetched twice, and a truncated body is never taken for the archive.

Every request goes to a server on 127.0.0.1 that this file starts and stops; the archives it
serves are the synthetic PetImages zip and CIFAR-10 binary tar the workflow reads.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import ssl
import tarfile
import threading
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cnnlab.data.sources import DataSourceError, fetch_and_extract
from cnnlab.data.synthetic import write_cifar10_tar, write_petimages_zip

# Named as the real archives are: the download keeps the URL's file name.
ARCHIVE_FILE_NAMES = {
    "petimages": "kagglecatsanddogs_5340.zip",
    "cifar10": "cifar-10-binary.tar.gz",
}

# What the server does with one request (after its scripted ones, it serves the archive).
SERVE = "serve"
HTTP_500 = "http 500"
# Headers announce the whole archive, then the connection closes halfway through the body.
TRUNCATED = "truncated"
# No Content-Length, half the body, then close: the client cannot tell it is short.
TRUNCATED_WITHOUT_LENGTH = "truncated without length"


class ArchiveServer:
    """A one-thread HTTP(S) server on 127.0.0.1 for one archive; it answers request n with
    responses[n] (then SERVE) and records every request's path."""

    def __init__(self, archive_path, tls_context=None):
        self.archive = archive_path.read_bytes()
        self.file_name = archive_path.name
        self.scheme = "http" if tls_context is None else "https"
        self.responses = []
        self.requests = []
        self._lock = threading.Lock()
        self._server = http.server.HTTPServer(("127.0.0.1", 0), self._handler_class())
        if tls_context is not None:
            self._server.socket = tls_context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}/{self.file_name}"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _next_response(self, path):
        with self._lock:
            self.requests.append(path)
            index = len(self.requests) - 1
            return self.responses[index] if index < len(self.responses) else SERVE

    def _handler_class(self):
        server = self

        class ScriptedHandler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so a closed connection ends the body.
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                response = server._next_response(self.path)
                if self.path != f"/{server.file_name}":
                    self.send_error(404)
                    return
                if response == HTTP_500:
                    self.send_error(500, "scripted failure")
                    return
                body = server.archive
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if response != TRUNCATED_WITHOUT_LENGTH:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if response in (TRUNCATED, TRUNCATED_WITHOUT_LENGTH):
                    body = body[: len(body) // 2]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return ScriptedHandler


def write_archive(dataset, folder):
    """The synthetic archive of `dataset`, small, in the format the workflow reads."""
    path = folder / ARCHIVE_FILE_NAMES[dataset]
    folder.mkdir(parents=True, exist_ok=True)
    if dataset == "petimages":
        write_petimages_zip(path, images_per_class=2, seed=5)
    else:
        write_cifar10_tar(path, train_images=10, test_images=5, seed=5)
    return path


@pytest.fixture(params=["petimages", "cifar10"])
def dataset(request):
    return request.param


@pytest.fixture
def served(tmp_path, dataset):
    """An ArchiveServer over plain http for `dataset`'s archive, stopped after the test."""
    server = ArchiveServer(write_archive(dataset, tmp_path / "served"))
    yield server
    server.stop()


def pinned_source(server):
    """A url source as config gives it, with the real size and sha256 of what is served."""
    return {
        "kind": "url",
        "address": server.url,
        "size": len(server.archive),
        "sha256": hashlib.sha256(server.archive).hexdigest(),
    }


def fetch(tmp_path, dataset, source, out_name="raw", **options):
    out_dir = tmp_path / out_name
    fetch_and_extract(dataset, source, tmp_path / "downloads", out_dir, seed=0, **options)
    return out_dir


def files_under(folder):
    """Every file under `folder` (hidden temporaries included), relative to it."""
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_extracted_from(raw, dataset, archive_path):
    """`raw` holds the served archive's content: one member compared byte for byte."""
    if dataset == "petimages":
        with zipfile.ZipFile(archive_path) as archive:
            expected = archive.read("PetImages/Cat/0.jpg")
        assert (raw / "PetImages/Cat/0.jpg").read_bytes() == expected
    else:
        with tarfile.open(archive_path) as archive:
            expected = archive.extractfile("cifar-10-batches-bin/test_batch.bin").read()
        assert (raw / "cifar-10-batches-bin/test_batch.bin").read_bytes() == expected


# An error status, a body the client sees end early, and a short body only the size and hash
# pins can tell (pooch retries that verification failure too).
@pytest.mark.parametrize("first_failure", [HTTP_500, TRUNCATED, TRUNCATED_WITHOUT_LENGTH])
def test_a_failed_first_request_is_retried_once_and_the_archive_arrives(
    tmp_path, dataset, served, first_failure
):
    served.responses = [first_failure]
    raw = fetch(tmp_path, dataset, pinned_source(served), retries=1)
    assert served.requests == [f"/{served.file_name}"] * 2
    assert_extracted_from(raw, dataset, tmp_path / "served" / served.file_name)
    # Only the verified archive is in the cache: the failed attempt's temporary file is gone.
    assert files_under(tmp_path / "downloads") == [served.file_name]
    assert (tmp_path / "downloads" / served.file_name).read_bytes() == served.archive


@pytest.mark.parametrize(
    "failure, cause",
    [(HTTP_500, "500 Server Error"), (TRUNCATED, "IncompleteRead")],
)
def test_with_no_retries_the_first_failure_says_what_to_do_and_leaves_nothing(
    tmp_path, dataset, served, failure, cause
):
    served.responses = [failure]
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, dataset, pinned_source(served), retries=0)
    message = str(error.value)
    assert message.startswith(f"Could not download {served.url}: ")
    assert cause in message
    # The way out when the network keeps failing: a local copy, named by its config keys.
    assert (
        f"set data.{dataset}.source: path and data.{dataset}.path: /local/copy/{served.file_name}"
        in message
    )
    assert len(served.requests) == 1
    assert files_under(tmp_path / "downloads") == []
    assert not (tmp_path / "raw").exists()
    # Nor a partial output folder beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads", "served"]


def test_a_verified_cached_archive_is_not_fetched_again(tmp_path, dataset, served):
    source = pinned_source(served)
    fetch(tmp_path, dataset, source, out_name="first_raw")
    assert len(served.requests) == 1
    # A later run (a fresh output folder, the same downloads folder) extracts the cached copy.
    second_raw = fetch(tmp_path, dataset, source, out_name="second_raw")
    assert len(served.requests) == 1
    assert_extracted_from(second_raw, dataset, tmp_path / "served" / served.file_name)


def test_a_cached_archive_that_no_longer_matches_its_hash_is_fetched_again(
    tmp_path, dataset, served
):
    source = pinned_source(served)
    fetch(tmp_path, dataset, source)
    cached = tmp_path / "downloads" / served.file_name
    damaged = bytearray(cached.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte: bit rot, or an edit by hand
    cached.write_bytes(damaged)
    fetch(tmp_path, dataset, source)
    assert len(served.requests) == 2
    assert cached.read_bytes() == served.archive


# ----------------------------------------------------------------------------- truncated, no hash
# Plain http without a pinned hash is refused before any request, so an unhashed download
# can only be https: the server below has a certificate made for 127.0.0.1 that the client
# trusts through REQUESTS_CA_BUNDLE, for this test only.


def write_self_signed_certificate(folder):
    """A certificate and key for 127.0.0.1 (the certificate is its own CA): (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def served_over_https(tmp_path, monkeypatch):
    """An https ArchiveServer for a PetImages archive, trusted by requests for this test only."""
    cert_path, key_path = write_self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    server = ArchiveServer(write_archive("petimages", tmp_path / "served"), tls_context=context)
    yield server
    server.stop()


def test_the_https_server_serves_an_unhashed_archive(tmp_path, served_over_https):
    # The premise of the truncation tests below: an unhashed https download does arrive.
    source = {
        "kind": "url",
        "address": served_over_https.url,
        "size": len(served_over_https.archive),
    }
    raw = fetch(tmp_path, "petimages", source, retries=0)
    assert served_over_https.url.startswith("https://127.0.0.1:")
    assert_extracted_from(raw, "petimages", tmp_path / "served" / served_over_https.file_name)


@pytest.mark.parametrize("size_pinned", [True, False], ids=["size pinned", "nothing pinned"])
def test_a_truncated_unhashed_download_with_its_length_announced_is_refused(
    tmp_path, served_over_https, size_pinned
):
    served = served_over_https
    served.responses = [TRUNCATED, TRUNCATED]
    source = {
        "kind": "url",
        "address": served.url,
        **({"size": len(served.archive)} if size_pinned else {}),
    }
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, "petimages", source, retries=1)
    # The client sees the body end before Content-Length: the error says the read was incomplete.
    assert f"Could not download {served.url}: " in str(error.value)
    assert "IncompleteRead" in str(error.value)
    assert len(served.requests) == 2
    assert files_under(tmp_path / "downloads") == []
    assert not (tmp_path / "raw").exists()


def test_a_truncated_unhashed_download_without_a_length_is_caught_by_the_size_pin(
    tmp_path, served_over_https
):
    served = served_over_https
    served.responses = [TRUNCATED_WITHOUT_LENGTH]
    size = len(served.archive)
    source = {"kind": "url", "address": served.url, "size": size}
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, "petimages", source, retries=0)
    assert str(error.value) == (
        f"Download of {served.url} failed verification: {served.url}: expected {size:,} bytes, "
        f"got {size // 2:,} (an incomplete or different file)"
    )
    assert files_under(tmp_path / "downloads") == []
    assert not (tmp_path / "raw").exists()
