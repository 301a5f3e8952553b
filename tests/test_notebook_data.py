"""Each notebook fetches its own datasets (`srlib.course.fetch_data`), from ``$SRLIB_MIRROR`` when set:
notebook 04 runs as a student runs it, outside the nbval harness (whose conftest fetches the data for every
notebook), with an empty data folder and a classroom mirror on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from srlib import course, datasets, images
from srlib.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_registry(tmp_path, monkeypatch) -> Path:
    """A registry of two T91 and one BSDS200 image at a closed port; the files lie in tmp_path/served/data."""
    entries = {}
    for i, path in enumerate(["train/T91/t1.png", "train/T91/t2.png", "train/BSDS200/1.png"]):
        served = tmp_path / "served" / "data" / path
        served.parent.mkdir(parents=True, exist_ok=True)
        images.save_image(images.sample_image("coffee")[:, i * 30 : i * 30 + 30, :40], served)
        blob = served.read_bytes()
        entries[path] = datasets.RegistryEntry(
            path, "http://127.0.0.1:9/" + path, hashlib.sha256(blob).hexdigest(), len(blob)
        )
    monkeypatch.setattr(datasets, "registry", lambda: entries)
    monkeypatch.delenv("SRLIB_MIRROR", raising=False)
    return tmp_path / "served"


def test_each_notebook_names_the_datasets_it_reads():
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    assert course.notebook_datasets("04", smoke) == ("Set5", "T91", "BSDS200")
    assert course.notebook_datasets("04", cpu) == ("Set5", "Set14", "BSD100", "T91", "BSDS200")
    assert course.notebook_datasets("05", cpu) == ("T91", "BSDS200")
    assert course.notebook_datasets("02", cpu) == ("Set5", "T91")
    assert course.notebook_datasets("07 solutions") == ("Set14", "BSD100")
    for notebook in (ROOT / "notebooks").rglob("0*.ipynb"):
        key = notebook.name[:2] + (" solutions" if notebook.parent.name == "solutions" else "")
        calls = f'fetch_data("{key}"' in notebook.read_text().replace('\\"', '"')
        assert calls == (key != "05 solutions"), notebook.name  # 05 solutions: fetch_data("05"), its images


def test_srlib_mirror_serves_the_downloads_and_a_t91_alone_is_completed_to_291(
    small_registry, serve, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("SRLIB_MIRROR", serve(small_registry, "/data"))
    datasets.fetch("T91")  # notebook 02 fetches T91 alone
    assert not (tmp_path / "data" / "train" / "BSDS200").exists()
    course.fetch_data("05")
    assert capsys.readouterr().out == "datasets ready: T91, BSDS200 (the 291 training images)\n"
    landed = sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.png"))
    assert landed == sorted(datasets.registry())


def test_offline_without_a_mirror_the_set_up_stops_with_one_line_naming_the_fix(
    small_registry, tmp_path, monkeypatch
):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "empty"))  # the registry's URLs point at a closed port
    with pytest.raises(datasets.DownloadError) as err:
        course.fetch_data("05")
    msg = str(err.value)
    assert "\n" not in msg and "`srlib fetch T91 BSDS200`" in msg
    assert "SRLIB_DATA" in msg and "SRLIB_MIRROR=http://host/path" in msg
    assert not list((tmp_path / "empty").rglob("*.png"))


def test_a_mirror_that_is_down_is_named_in_the_one_line(small_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    monkeypatch.setenv("SRLIB_MIRROR", "http://127.0.0.1:9/data")
    with pytest.raises(datasets.DownloadError, match="not downloadable from the mirror http://127.0.0.1:9/data"):
        course.fetch_data("05")


@pytest.mark.slow
def test_notebook_04_outside_the_harness_fetches_its_data_from_srlib_mirror_and_runs(
    data_root, serve, tmp_path, monkeypatch
):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for name in ("Set5", "T91", "BSDS200"):
        if not (data_root / datasets.DATASETS[name]).is_dir():
            pytest.skip(f"the data folder {data_root} has no {datasets.DATASETS[name]}")
    mirror = tmp_path / "mirror"  # the layout the mirror serves: <mirror>/data/<registry path>
    mirror.mkdir()
    (mirror / "data").symlink_to(data_root)
    project = tmp_path / "project"  # a copy of the notebook: its runs/ land here, not in the checkout
    (project / "notebooks").mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SRLIB_DATA", str(empty))
    monkeypatch.setenv("SRLIB_MIRROR", serve(mirror, "/data"))
    monkeypatch.setenv("SRLIB_PROFILE", "smoke")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(ROOT / "notebooks" / "04_srresnet_training.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "datasets ready: Set5, T91, BSDS200 (the 291 training images)" in out
    for name in ("Set5", "T91", "BSDS200"):
        parts = ("HR", "LR") if name in datasets.BENCHMARKS else ("HR",)
        expected = [p for part in parts for p in datasets.dataset_files(name, part)]
        assert all((empty / p).is_file() for p in expected), name
    assert len([p for p in (empty / "train").rglob("*") if p.is_file()]) == 291
    assert (project / "runs" / "04_srresnet_smoke" / "srresnet.safetensors").is_file()
    shutil.rmtree(project)


def test_in_a_notebook_a_user_error_shows_as_its_one_line(small_registry, tmp_path, monkeypatch):
    """IPython shows what `_render_traceback_` returns instead of the traceback."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "empty"))
    with pytest.raises(datasets.DownloadError) as err:
        course.fetch_data("05")
    assert err.value._render_traceback_() == [f"DownloadError: {err.value}"]
