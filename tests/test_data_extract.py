"""Safe extraction: members that would escape the target folder are refused, by name."""

import io
import re
import tarfile
import zipfile

import pytest

from cnnlab.data.extract import UnsafeArchiveError, safe_extract


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def write_tar(path, members, mode="w:gz"):
    """`members`: name -> bytes for a file, or ("symlink"|"hardlink", target) for a link."""
    with tarfile.open(path, mode) as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                kind, info.linkname = content
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("writer, suffix", [(write_zip, "zip"), (write_tar, "tar.gz")])
def test_a_safe_archive_extracts(tmp_path, writer, suffix):
    archive = writer(tmp_path / f"good.{suffix}", {"top/a.txt": b"alpha", "top/sub/b.txt": b"beta"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out/top/a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "out/top/sub/b.txt").read_bytes() == b"beta"


@pytest.mark.parametrize(
    "bad_name", ["../escaped.txt", "top/../../escaped.txt", "/tmp/absolute.txt"]
)
@pytest.mark.parametrize("writer, suffix", [(write_zip, "zip"), (write_tar, "tar.gz")])
def test_a_member_outside_the_target_is_refused_by_name(tmp_path, writer, suffix, bad_name):
    archive = writer(tmp_path / f"evil.{suffix}", {"top/fine.txt": b"ok", bad_name: b"gotcha"})
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=re.escape(bad_name)):
        safe_extract(archive, target)
    # Checked before writing: not even the harmless member was extracted.
    assert not (target / "top").exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize(
    "link", [("symlink", "/etc/passwd"), ("symlink", "inside.txt"), ("hardlink", "top/a.txt")]
)
def test_a_link_member_in_a_tar_is_refused(tmp_path, link):
    archive = write_tar(tmp_path / "links.tar", {"top/a.txt": b"alpha", "top/link": link}, mode="w")
    with pytest.raises(UnsafeArchiveError, match="top/link"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "top").exists()


def test_a_symlink_member_in_a_zip_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        info = zipfile.ZipInfo("top/link")
        info.external_attr = 0o120777 << 16  # S_IFLNK: how zip tools store a symlink
        zip_file.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="top/link"):
        safe_extract(archive, tmp_path / "out")


def test_a_file_that_is_no_archive_is_an_error(tmp_path):
    not_archive = tmp_path / "data.zip"
    not_archive.write_bytes(b"<html>404</html>")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        safe_extract(not_archive, tmp_path / "out")
