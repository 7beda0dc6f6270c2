"""Fetching MNIST through the CLI: from a mirror on the loopback interface serving the shipped sample.

The sample stands in for the full set: the tests give the download the sample's checksums in place of
the full set's, so the whole path (mirror list, HTTP, progress, SHA-256, the cache) runs for real.
"""

from __future__ import annotations

import http.server
import os
import shlex
import threading

import pytest

from pyspice_mram.cli import main
from pyspice_mram.errors import DataError
from pyspice_mram.training import mnist as mn


@pytest.fixture()
def sample_mirror(mnist_dir, monkeypatch, tmp_path):
    """A mirror of the shipped sample on 127.0.0.1 (the base URL), and a clean cache and environment."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(mnist_dir), **k)

        def log_message(self, *a):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(mn.ENV_VAR, raising=False)
    monkeypatch.setattr(mn, "SHA256", mn.read_manifest(mnist_dir))
    monkeypatch.setattr(mn, "MIRRORS", ())  # nothing leaves the machine
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield url, requests
    httpd.shutdown()
    thread.join()


def test_train_download_fills_the_cache_from_the_mirror_variable(sample_mirror, tmp_path, monkeypatch, capsys):
    url, requests = sample_mirror
    monkeypatch.setenv(mn.MIRROR_ENV_VAR, f"http://127.0.0.1:1/, {url}")  # a dead mirror first, then ours
    out = tmp_path / "r.json"
    args = ["train", "--float", "--epochs", "1", "--seeds", "1", "--train-images", "100", "--download",
            "--json", str(out), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    cache = tmp_path / "cache" / "pyspice-mram" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(mn.FILES.values())  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in cache.iterdir()} == {0o666 & ~umask}  # readable as any file, not 0600
    assert len(requests) == 4
    assert mn.load_folder(cache).test_images.shape == (1000, 784)
    out.unlink()
    assert main(args) == 0  # found in the cache now: nothing fetched again
    assert len(requests) == 4


def test_paper_download_fetches_before_any_work(sample_mirror, tmp_path, monkeypatch, capsys):
    """`paper --download` fills the cache first; a failure after that is still one line."""
    import pyspice_mram.report.paper as paper
    from pyspice_mram.errors import SimulatorError

    url, _ = sample_mirror
    monkeypatch.setenv(mn.MIRROR_ENV_VAR, url)

    def no_sweep(*args, **kwargs):
        raise SimulatorError("stopped after the data step")

    monkeypatch.setattr(paper, "run_sweep", no_sweep)
    code = main(["paper", "--quick", "--out", str(tmp_path / "report"), "--download", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "stopped after the data step" in err
    assert mn.find_data_dir() == tmp_path / "cache" / "pyspice-mram" / "mnist"


def test_a_corrupt_mirror_file_is_never_kept(sample_mirror, tmp_path, mnist_dir, monkeypatch):
    url, _ = sample_mirror
    bad = dict(mn.SHA256, **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(DataError, match="could not download t10k-labels-idx1-ubyte.gz.*does not match"):
        mn.download(tmp_path / "dl", mirrors=[url], checksums=bad, progress=False)
    assert not (tmp_path / "dl" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "dl").glob(".*"))


@pytest.mark.parametrize("args", [
    ["paper", "--quick", "--out", "report", "--jobs", "2"],
    ["train", "--ber", "0.01", "--epochs", "1"],
    ["experiment", "fig3", "--out", "grid"],
])
def test_missing_data_names_the_exact_command(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(mn.ENV_VAR, raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: MNIST not found") and "\n" not in err
    assert err.endswith("run: " + shlex.join(["pyspice-mram", *args, "--download"]))
    if "--out" in args:
        assert not (tmp_path / args[args.index("--out") + 1]).exists()
