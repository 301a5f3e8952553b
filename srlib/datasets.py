"""The datasets: where the benchmark and training images are, and fetching them.

The registry (`registry.tsv`, shipped in the package) lists every file of the known datasets with its public
URL, sha256 and size. `fetch` downloads what is missing into the data folder (never more bytes than listed),
with a progress bar, and checks every file against its sha256; `ensure_data` does so for several datasets
and, offline, stops with one line saying how to get them. The data folder is ``$SRLIB_DATA`` when set, else
the project's ``data/`` folder (else the user's cache folder, for an installed package). ``$SRLIB_MIRROR``
(``http://host/path``), like `srlib fetch --mirror`, downloads from a server holding the same files (one
machine serving a classroom) instead of the registry's URLs. The benchmark images
are kept for evaluation: `refuse_benchmark_images` keeps them out of training, by folder and by content.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import urllib.parse
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from srlib.errors import UserError
from srlib.files import atomic_path, check_writable

# dataset name -> folder (relative to the data root) holding its HR images
BENCHMARKS = {"Set5": "benchmarks/Set5", "Set14": "benchmarks/Set14", "BSD100": "benchmarks/BSD100"}
TRAINING = {"T91": "train/T91", "BSDS200": "train/BSDS200"}  # the "291 images", `srlib train`'s default
EXTRA = {"BSDS500_test": "train_extra/BSDS500_test"}  # 200 more training images, none of them a benchmark's
DATASETS = {**BENCHMARKS, **TRAINING, **EXTRA}
MIRROR_ENV = "SRLIB_MIRROR"  # a base URL holding the data folder's files, used when no mirror is given


class DownloadError(UserError):
    """A file is missing and could not be downloaded (no network, server down)."""


@dataclass(frozen=True)
class RegistryEntry:
    path: str  # relative to the data root, e.g. "benchmarks/Set5/HR/img_001_SRF_4_HR.png"
    url: str
    sha256: str
    size: int


@cache
def registry() -> dict[str, RegistryEntry]:
    """Every known file, keyed by its path under the data root."""
    text = resources.files("srlib").joinpath("registry.tsv").read_text()
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return {r["path"]: RegistryEntry(r["path"], r["url"], r["sha256"], int(r["bytes"])) for r in rows}


def data_root() -> Path:
    """``$SRLIB_DATA`` when set, else the ``data/`` folder of the project checkout (or the user cache)."""
    env = os.environ.get("SRLIB_DATA")
    if env:
        root = Path(env).expanduser()
        try:
            root.stat()  # under a folder that cannot be entered, even is_dir raises PermissionError
        except PermissionError:
            raise UserError(
                f"SRLIB_DATA={env} cannot be reached (permissions); fix them or unset SRLIB_DATA"
            ) from None
        except OSError:
            pass  # missing: said below
        if not root.is_dir():
            raise UserError(f"SRLIB_DATA={env} is not a folder; create it or unset SRLIB_DATA")
        if not os.access(root, os.R_OK | os.X_OK):
            raise UserError(f"SRLIB_DATA={env} is not readable (permissions); fix them or unset SRLIB_DATA")
        return root
    checkout = Path(__file__).resolve().parents[1] / "data"
    if checkout.is_dir():
        return checkout
    return user_cache()


def user_cache() -> Path:
    """srlib's folder in the user's cache, where each platform keeps caches: $XDG_CACHE_HOME/srlib or
    ~/.cache/srlib, ~/Library/Caches/srlib on macOS, %LOCALAPPDATA%\\srlib\\srlib\\Cache on Windows (the
    folders of platformdirs, which pooch.os_cache gave before)."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
        return Path(local) / "srlib" / "srlib" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "srlib"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srlib"


def check_dataset(name: str) -> str:
    """Return the folder of a known dataset, or raise a UserError listing the known names."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def check_benchmark(name: str) -> None:
    """Raise a UserError unless ``name`` is one of the benchmark sets."""
    if name not in BENCHMARKS:
        kind = "a training set, not a benchmark" if name in DATASETS else "not a known benchmark"
        raise UserError(f"{name!r} is {kind}; choose from {', '.join(BENCHMARKS)}")


def dataset_files(name: str, part: str = "HR", scale: int = 4) -> list[str]:
    """Registry paths of one dataset part: ``"HR"`` or ``"LR"`` (benchmarks) or all images (training sets)."""
    folder = check_dataset(name)
    if name not in BENCHMARKS:
        sub = folder + "/"
    elif part == "HR":
        sub = f"{folder}/HR/"
    else:
        sub = f"{folder}/LR_bicubic/X{scale}/"
    files = sorted(p for p in registry() if p.startswith(sub))
    if not files:
        have = sorted({p.split("/")[3] for p in registry() if p.startswith(f"{folder}/LR_bicubic/")})
        raise UserError(f"{name} has no x{scale} low-resolution files; available: {', '.join(have)}")
    return files


def mirror_url(mirror: str | None = None) -> str | None:
    """The mirror to download from: ``mirror`` when given, else ``$SRLIB_MIRROR``, else None (the
    registry's URLs)."""
    return mirror or os.environ.get(MIRROR_ENV) or None


def check_mirror(mirror: str) -> str:
    """The mirror base URL without its trailing slash, or a UserError unless it is http(s)://host/..."""
    try:
        parts = urllib.parse.urlsplit(mirror)
        port = parts.port  # parsed here, so that a bad one is refused now, not at the first download
    except ValueError:  # "http://[::1" (an unclosed IPv6 bracket), "http://host:99999"
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or port == 0:
        where = f" (from {MIRROR_ENV})" if mirror == os.environ.get(MIRROR_ENV) else ""
        raise UserError(
            f"unsupported mirror URL {mirror!r}{where}: give an http:// or https:// base URL holding the "
            "files (e.g. http://localhost:8000)"
        )
    return mirror.rstrip("/")


def _download(url: str, dest: Path, entry: RegistryEntry) -> None:
    """Stream ``url`` into ``dest`` atomically; more bytes than the registry lists or another sha256 fail."""
    import requests  # where used: `srlib --help` does not wait for it

    digest, received = hashlib.sha256(), 0
    with atomic_path(dest) as tmp, requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        with open(tmp, "wb") as f:
            for chunk in response.iter_content(1 << 16):
                received += len(chunk)
                if received > entry.size:  # a wrong file, or a server that never stops sending
                    raise UserError(
                        f"{url}: the server sent more than the {entry.size:,} bytes the registry lists; "
                        "it holds another file: use another mirror"
                    )
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != entry.sha256:
            raise UserError(
                f"{url}: downloaded file does not match its sha256; "
                "the server may hold another version: try again or use another mirror"
            )


def _dataset_of(path: str) -> str:
    """The name of the dataset a registry path belongs to."""
    return next(name for name, folder in DATASETS.items() if path.startswith(folder + "/"))


def _is_verified(local: Path, entry: RegistryEntry) -> bool:
    """Whether the local file is the registry's: its size, then its sha256."""
    try:
        if not (local.is_file() and local.stat().st_size == entry.size):
            return False
        return _sha256(local) == entry.sha256
    except OSError as e:  # an unreadable file or folder of the data folder
        raise UserError(
            f"cannot read {local} ({e.strerror}): fix its permissions, or set SRLIB_DATA"
        ) from None


def fetch_file(path: str, root: Path | None = None, mirror: str | None = None) -> Path:
    """Return the local copy of a registry file, downloading and sha256-checking it when missing.

    ``mirror`` (default: ``$SRLIB_MIRROR``) replaces the registry's URL by ``mirror/path`` (a local server,
    a copy on your own host). A download that fails, is larger than the registry says or does not match
    its sha256 leaves no file behind; a local file that does not match is replaced.
    """
    import requests  # where used: `srlib --help` does not wait for it

    entry = registry()[path]
    root = data_root() if root is None else Path(root)
    mirror = mirror_url(mirror)
    url = f"{check_mirror(mirror)}/{urllib.parse.quote(path)}" if mirror else entry.url
    local = root / path
    if _is_verified(local, entry):
        return local
    corrupt = local.exists()
    try:
        check_writable(local)
    except UserError as e:
        raise UserError(f"{e}; the data folder must be writable: set SRLIB_DATA to another folder") from None
    try:
        _download(url, local, entry)
    except requests.HTTPError as e:  # the server answered: the network is fine, the file is not there
        status = e.response.status_code if e.response is not None else "?"
        raise UserError(
            f"{url}: the server answered HTTP {status}; it does not hold that file: check the mirror's URL "
            f"(it must hold the registry's paths), or set SRLIB_DATA to a folder holding {_dataset_of(path)}"
        ) from None
    except requests.RequestException as e:
        reason = (
            f"{local} does not match its sha256 (corrupt or another version) and could not be downloaded "
            "again"
            if corrupt
            else f"could not download {url}"
        )
        raise DownloadError(
            f"{reason} ({type(e).__name__}; no network?): check the connection, run `srlib fetch "
            f"{_dataset_of(path)}` where there is one, or set SRLIB_DATA to a folder that holds it"
        ) from None
    return local


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    name: str,
    part: str = "HR",
    scale: int = 4,
    root: Path | None = None,
    mirror: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Local paths of a dataset part (see `dataset_files`), downloading missing files first.

    The files already there are checked against their sha256; the download of the others shows one
    progress bar (bytes) for the part.
    """
    from tqdm.auto import tqdm

    root = data_root() if root is None else Path(root)
    files = dataset_files(name, part, scale)
    missing = [registry()[p] for p in files if not _is_verified(root / p, registry()[p])]
    if missing:
        fetch_file(missing[0].path, root, mirror)  # before the bar: offline, the error is the only output
        desc = f"{name} {part}" if name in BENCHMARKS else name
        total, done = sum(e.size for e in missing), missing[0].size
        bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=desc, disable=not progress)
        with bar:
            for entry in missing[1:]:
                fetch_file(entry.path, root, mirror)
                bar.update(entry.size)
    return [root / p for p in files]


def ensure_data(*names: str, root: Path | None = None, mirror: str | None = None) -> Path:
    """Make sure the datasets ``names`` (default: the benchmarks and the 291 training images) are in the data
    folder, downloading what is missing (sha256-checked, with a progress bar); return the data folder.

    Offline with files missing, one UserError names the fix: `srlib fetch NAMES`, ``SRLIB_DATA`` or
    ``SRLIB_MIRROR``. The training images end up in ``<data folder>/train``, where `srlib train` looks by
    default.
    """
    names = names or (*BENCHMARKS, *TRAINING)
    for name in names:
        check_dataset(name)
    root = data_root() if root is None else Path(root)
    try:
        for name in names:
            for part in ("HR", "LR") if name in BENCHMARKS else ("HR",):
                fetch(name, part, root=root, mirror=mirror)
    except DownloadError:
        source = f"from the mirror {mirror_url(mirror)}" if mirror_url(mirror) else "here (no network?)"
        raise DownloadError(
            f"datasets missing from {root} and not downloadable {source}: run "
            f"`srlib fetch {' '.join(names)}` where there is a connection, set SRLIB_DATA to a folder "
            f"that holds them, or {MIRROR_ENV}=http://host/path to a server that does"
        ) from None
    return root


def benchmark_pairs(name: str, scale: int = 4, root: Path | None = None) -> list[tuple[str, Path, Path]]:
    """``(image name, HR path, LR path)`` for every image of a benchmark set."""
    check_benchmark(name)
    lr = fetch(name, "LR", scale, root)
    hr = fetch(name, "HR", scale, root)
    return [(h.name.split("_SRF_")[0], h, low) for h, low in zip(hr, lr, strict=True)]


def benchmark_hashes() -> dict[str, str]:
    """sha256 -> registry path of every benchmark file (HR and LR), to recognise them under any name."""
    return {e.sha256: p for p, e in registry().items() if p.startswith("benchmarks/")}


def is_benchmark_path(path: str | Path) -> bool:
    """Whether ``path`` lies in a benchmark folder (a folder named benchmarks, Set5, Set14 or BSD100)."""
    return bool(set(Path(path).resolve().parts) & {*BENCHMARKS, "benchmarks"})


def refuse_benchmark_images(files: list[Path]) -> None:
    """A UserError when a training file is a benchmark image: by its folder's name, or by its content.

    The content check compares each file's sha256 with the registry's, so a Set5 image copied elsewhere
    under another name is caught too (a re-encoded copy is not: its bytes differ).
    """
    known = benchmark_hashes()
    for path in files:
        if is_benchmark_path(path):
            raise UserError(f"{path} is a benchmark image, kept for evaluation only: train on other images")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in known:
            raise UserError(
                f"{path} is the benchmark file {known[digest]} under another name, kept for evaluation "
                "only: train on other images"
            )
