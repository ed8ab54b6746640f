"""ml-1m download against a local HTTP server on loopback (no test reaches the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from autoembed.config import DataConfig
from autoembed.data import load_dataset
from autoembed.data.download import ChecksumError, download_ml1m

RATINGS = "1::1::5::978300760\n1::2::1::\n2::1::4::978300761\n2::2::2::978300762\n"


@pytest.fixture
def served_zip(tmp_path):
    """A small ml-1m.zip served at http://127.0.0.1:PORT/ml-1m.zip; yields (url, sha256)."""
    site = tmp_path / "site"
    site.mkdir()
    archive = site / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", RATINGS)
        zf.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
        zf.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Comedy\n2::Heat (1995)::Action\n")
        zf.writestr("ml-1m/README", "test copy")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"http://127.0.0.1:{server.server_address[1]}/ml-1m.zip",
               hashlib.sha256(archive.read_bytes()).hexdigest())
    finally:
        server.shutdown()
        server.server_close()


def test_download_verifies_and_unzips(served_zip, tmp_path):
    url, sha = served_zip
    folder = download_ml1m(tmp_path / "raw", url=url, sha256=sha)
    assert folder == tmp_path / "raw" / "ml-1m"
    assert (folder / "ratings.dat").read_text() == RATINGS
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["ml-1m"]  # zip removed
    data = load_dataset(DataConfig(name="ml-1m", root=str(folder), cache_dir=str(tmp_path / "c")))
    assert data.num_rows == 4 and data.meta["parse_report"]["notes"]["empty_timestamp"] == 1


def test_checksum_mismatch_is_an_error_and_leaves_nothing(served_zip, tmp_path):
    url, _ = served_zip
    with pytest.raises(ChecksumError, match="does not match the expected"):
        download_ml1m(tmp_path / "raw", url=url, sha256="0" * 64)
    assert list((tmp_path / "raw").iterdir()) == []
