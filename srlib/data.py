"""Datasets and image I/O: where the benchmark and training images are, fetching them, and reading them.

The registry (`registry.tsv`, shipped in the package) lists every file of the known datasets with its public
URL, sha256 and size. `fetch` downloads what is missing into the data folder (never more bytes than listed),
with a progress bar, and checks every file against its sha256; `ensure_data` does so for several datasets
and, offline, stops with one line saying how to get them. The data folder is ``$SRLIB_DATA`` when set, else
the project's ``data/`` folder (else the user's cache folder, for an installed package).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import requests
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from srlib.errors import UserError
from srlib.imresize import check_factor, imresize

# dataset name -> folder (relative to the data root) holding its HR images
BENCHMARKS = {"Set5": "benchmarks/Set5", "Set14": "benchmarks/Set14", "BSD100": "benchmarks/BSD100"}
TRAINING = {"T91": "train/T91", "BSDS200": "train/BSDS200"}  # the "291 images", `srlib train`'s default
EXTRA = {"BSDS500_test": "train_extra/BSDS500_test"}  # 200 more training images, none of them a benchmark's
DATASETS = {**BENCHMARKS, **TRAINING, **EXTRA}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SAMPLE_IMAGES = ("astronaut", "chelsea", "coffee", "rocket")


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
        if not root.is_dir():
            raise UserError(f"SRLIB_DATA={env} is not a folder; create it or unset SRLIB_DATA")
        return root
    checkout = Path(__file__).resolve().parents[1] / "data"
    if checkout.is_dir():
        return checkout
    import pooch  # imported where used: the rest of srlib runs without it (e.g. on a bare GPU machine)

    return Path(pooch.os_cache("srlib"))


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


def check_mirror(mirror: str) -> str:
    """The mirror base URL without its trailing slash, or a UserError unless it is http(s)://host/..."""
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"unsupported mirror URL {mirror!r}: give an http:// or https:// base URL holding the files "
            "(e.g. http://localhost:8000)"
        )
    return mirror.rstrip("/")


def _download(url: str, dest: Path, entry: RegistryEntry) -> None:
    """Stream ``url`` into ``dest`` atomically; more bytes than the registry lists or another sha256 fail."""
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
    if not (local.is_file() and local.stat().st_size == entry.size):
        return False
    return _sha256(local) == entry.sha256


def fetch_file(path: str, root: Path | None = None, mirror: str | None = None) -> Path:
    """Return the local copy of a registry file, downloading and sha256-checking it when missing.

    ``mirror`` replaces the registry's URL by ``mirror/path`` (a local server, a copy on your own host).
    A download that fails, is larger than the registry says or does not match its sha256 leaves no file
    behind; a local file that does not match is replaced.
    """
    entry = registry()[path]
    root = data_root() if root is None else Path(root)
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

    Offline with files missing, one UserError names the fix: `srlib fetch NAMES`, or ``SRLIB_DATA``.
    The training images end up in ``<data folder>/train``, where `srlib train` looks by default.
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
        raise DownloadError(
            f"datasets missing from {root} and not downloadable here (no network?): run "
            f"`srlib fetch {' '.join(names)}` where there is a connection, or set SRLIB_DATA to a folder "
            "that holds them"
        ) from None
    return root


def benchmark_pairs(name: str, scale: int = 4, root: Path | None = None) -> list[tuple[str, Path, Path]]:
    """``(image name, HR path, LR path)`` for every image of a benchmark set."""
    check_benchmark(name)
    lr = fetch(name, "LR", scale, root)
    hr = fetch(name, "HR", scale, root)
    return [(h.name.split("_SRF_")[0], h, low) for h, low in zip(hr, lr, strict=True)]


def check_pixels(path: str | Path, size: tuple[int, int], max_pixels: int | None = None) -> None:
    """A UserError naming the size when a ``(width, height)`` image has more pixels than ``max_pixels``.

    The default is PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels): a
    small file can claim a huge image and fill the memory when decoded.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    w, h = size
    if limit and w * h > limit:
        raise UserError(
            f"{path}: refused: {w}x{h} pixels ({w * h / 1e6:.1f} megapixels) is more than the "
            f"{limit / 1e6:.1f}-megapixel limit (a decompression bomb?); shrink or crop the image first"
        )


def _pixels(img: Image.Image, path: str | Path) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] of a decoded image, each kind scaled by its own white level."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64) / 65535.0
    elif img.mode == "I" and img.format == "PNG":  # a 16-bit PNG, as some Pillow versions open it
        arr = np.asarray(img, dtype=np.float64) / 65535.0
    elif img.mode == "I":
        raise UserError(
            f"{path}: 32-bit integer pixels have no agreed white level; save the image with 8 or 16 bits"
        )
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
            raise UserError(
                f"{path}: float pixels from {np.nanmin(arr):g} to {np.nanmax(arr):g} (or NaN); srlib reads "
                "float images in [0, 1]: scale it to [0, 1] or save it with 8 or 16 bits"
            )
    else:
        return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return np.repeat(arr[..., None], 3, axis=2)


def load_image(path: str | Path, max_pixels: int | None = None) -> Tensor:
    """Read an image file as an RGB float tensor (3, H, W) in [0, 1].

    8- and 16-bit files are scaled by their own maximum, float files must hold [0, 1], 32-bit integer files
    are refused; grayscale is repeated to three channels; palette images are expanded; an alpha channel is
    dropped (the RGB values are kept as stored, not blended onto a background). The EXIF orientation is
    applied (phone photos come out upright). Of a multi-frame file (GIF, TIFF) only the first frame is
    read, with a warning. Images beyond ``max_pixels`` (see `check_pixels`) and unreadable files raise a
    one-line UserError naming the path.
    """
    try:
        with warnings.catch_warnings():  # PIL's own warning for large images: check_pixels refuses them
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            check_pixels(path, img.size, max_pixels)
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                warnings.warn(f"{path}: holds {frames} frames; only the first is used", stacklevel=2)
            img.load()
            arr = _pixels(ImageOps.exif_transpose(img), path)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not an image file") from None
    except Image.DecompressionBombError as e:  # beyond twice PIL's limit: PIL refuses before we see the size
        raise UserError(f"{path}: refused: {e}; shrink or crop the image first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).contiguous()


def is_grayscale(path: str | Path) -> bool:
    """True when the file stores a single (grey) channel, with or without alpha."""
    with Image.open(path) as img:
        return img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.partial")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of `atomic_path` in ``folder`` whose writing process is gone (killed).

    Returns what was removed. A temporary is named ``.<name>.<pid>.<random>.partial<suffix>``.
    """
    removed = []
    for tmp in Path(folder).glob(".*.partial*") if Path(folder).is_dir() else []:
        match = _TEMPORARY.match(tmp.name)
        if match and not _alive(int(match["pid"])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process of this machine is running (on Windows, where os.kill would end it, assume so)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_writable(path: str | Path, folder: bool = False) -> Path:
    """A one-line UserError unless ``path`` can be written: a file, or with ``folder``, a folder for files.

    Called before any work, so that a bad destination is found in seconds, not after an hour of compute:
    a file where a folder is wanted (or the reverse), a path under a file, a read-only place. Creates
    nothing.
    """
    path = Path(path)
    if path.is_dir() and not folder:
        raise UserError(f"{path} is a folder; give a file name")
    if path.exists() and not path.is_dir() and folder:
        raise UserError(f"{path} is a file, not a folder; give a folder")
    existing = path if path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass  # a real write also finds read-only mounts, which os.access does not
    except OSError as e:
        raise UserError(f"cannot write {path}: {existing} is not writable ({e.strerror})") from None
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: {existing} is read-only")
    return path


def _no_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of disk: ENOSPC, or a library's wrapped message, or a full disk."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left" in str(error) or "os error 28" in str(error):
        return True
    try:  # torch.save reports a full disk as a RuntimeError without the reason
        return isinstance(error, RuntimeError) and shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only when the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind: a crash keeps the previous
    file. The data reach the disk (fsync) before the rename. A full disk raises a one-line UserError
    ("no space left on ..."); temporaries left by killed processes are removed here.
    """
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # removed on failure
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {path}: a file stands where a folder should be") from None
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=f".partial{path.suffix}"
    )
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plain open(), not mkstemp's private 0600
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # on the disk before the rename: a power cut keeps the old file or the new
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except Exception as e:
        if _no_space(e, path.parent):
            raise UserError(
                f"no space left on {path.parent}: {path.name} was not written (any earlier one is kept); "
                "free some space and try again"
            ) from None
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)
        if not path.exists():  # failed: remove the folders made for it, if still empty
            for folder in created:
                with suppress(OSError):
                    folder.rmdir()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def folder_lock(folder: str | Path, what: str = "run") -> Iterator[None]:
    """Hold ``folder/.lock`` for the block: a second writer of the same folder gets a one-line UserError.

    The lock is the operating system's (``flock``; ``msvcrt.locking`` on Windows), so the kernel releases it
    when its process dies, even by kill -9: the next run takes a stale lock over, and says so. The file
    holds the owner's process id, for the message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        previous = os.read(fd, 64).decode(errors="replace").strip()
        try:
            _lock(fd)
        except OSError:
            raise UserError(
                f"{folder} is in use by another {what} (process {previous or '?'}): wait for it to end, "
                "or choose another folder"
            ) from None
        if previous and previous.isdigit() and int(previous) != os.getpid():
            warnings.warn(f"{folder}: took over the lock of process {previous}, which ended", stacklevel=3)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a clean end leaves no owner; the file stays (unlinking it would race)
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    """Lock an open file without waiting; OSError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_image(x: Tensor, path: str | Path) -> Path:
    """Write a (3, H, W) float image in [0, 1] as an 8-bit file, atomically."""
    arr = (x.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format=Image.registered_extensions().get(Path(path).suffix.lower()))
    return Path(path)


def quantize(x: Tensor) -> Tensor:
    """Clamp to [0, 1] and round to 8-bit levels, as saving the image would."""
    return (x.clamp(0, 1) * 255).round() / 255


def modcrop(img: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    scale = check_factor(scale)
    if img.dim() < 2 or min(img.shape[-2:]) < scale:
        raise UserError(
            f"modcrop: expected images (..., H, W) of at least {scale}x{scale}, got {tuple(img.shape)}"
        )
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def sample_image(name: str) -> Tensor:
    """One of the colour images that ship inside scikit-image, for offline demos: (3, H, W) in [0, 1]."""
    import skimage.data

    if name not in SAMPLE_IMAGES:
        raise UserError(f"unknown sample image {name!r}; choose from {', '.join(SAMPLE_IMAGES)}")
    arr = getattr(skimage.data, name)()[..., :3]
    return torch.from_numpy(arr.astype(np.float32) / 255).permute(2, 0, 1).contiguous()


def image_files(folder: str | Path) -> list[Path]:
    """Sorted image files of a folder (by suffix), or a UserError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return files


def benchmark_hashes() -> dict[str, str]:
    """sha256 -> registry path of every benchmark file (HR and LR), to recognise them under any name."""
    return {e.sha256: p for p, e in registry().items() if p.startswith("benchmarks/")}


def refuse_benchmark_images(files: list[Path]) -> None:
    """A UserError when a training file is a benchmark image: by its folder's name, or by its content.

    The content check compares each file's sha256 with the registry's, so a Set5 image copied elsewhere
    under another name is caught too (a re-encoded copy is not: its bytes differ).
    """
    known = benchmark_hashes()
    for path in files:
        if set(path.parts) & {*BENCHMARKS, "benchmarks"}:
            raise UserError(f"{path} is a benchmark image, kept for evaluation only: train on other images")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in known:
            raise UserError(
                f"{path} is the benchmark file {known[digest]} under another name, kept for evaluation "
                "only: train on other images"
            )


class CropSampler:
    """Random HR crops of in-memory images, each turned by one of the 8 symmetries of the square.

    All images live in one flat uint8 buffer on ``device`` (a quarter of float32's memory), so a batch is
    one gather: no per-crop Python loop, and on a GPU the data never waits on the CPU. Which image, where,
    and which turn come from a private CPU generator seeded with ``seed``: a run draws the same batches on
    any device, and the generator's state goes into checkpoints so a resumed run draws what it would have.
    """

    def __init__(
        self,
        folder: str | Path,
        crop: int,
        seed: int,
        max_images: int | None = None,
        device: str | torch.device = "cpu",
    ):
        files = image_files(folder)
        if max_images is not None:
            if max_images < 1:
                raise UserError(f"max_images must be at least 1, got {max_images}")
            files = files[:max_images]
        refuse_benchmark_images(files)
        self.crop, images, small = crop, [], []
        for path in files:
            img = load_image(path)
            if min(img.shape[-2:]) < crop:
                small.append(path.name)
            else:
                images.append((img * 255).round().to(torch.uint8))
        if not images:
            raise UserError(
                f"{folder}: no image is at least {crop}x{crop} pixels; use a smaller crop or other images"
            )
        if small:
            warnings.warn(
                f"{folder}: skipped {len(small)} image(s) smaller than the {crop}x{crop} crop: "
                + ", ".join(small),
                stacklevel=2,
            )
        sizes = torch.tensor([img.shape[-2:] for img in images])  # (n, 2): height, width
        self.heights, self.widths = sizes[:, 0], sizes[:, 1]
        self.offsets = torch.cumsum(3 * self.heights * self.widths, 0) - 3 * self.heights * self.widths
        self.pixels = torch.cat([img.flatten() for img in images]).to(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.heights)

    def sample(self, batch: int) -> Tensor:
        """``batch`` HR crops (batch, 3, crop, crop), uint8, on the sampler's device."""
        c, g = self.crop, self.generator
        idx = torch.randint(len(self), (batch,), generator=g)
        h, w = self.heights[idx], self.widths[idx]
        top = (torch.rand(batch, generator=g, dtype=torch.float64) * (h - c + 1)).long()
        left = (torch.rand(batch, generator=g, dtype=torch.float64) * (w - c + 1)).long()
        turn = torch.randint(8, (batch,), generator=g)  # bits: transpose, flip rows, flip columns
        # draws come from the CPU (the same batches on any device); the index is built where the pixels are
        draws = torch.stack([self.offsets[idx], h, w, top, left, turn]).to(self.pixels.device)
        start, h, w, top, left, turn = (v.view(-1, 1, 1) for v in draws)
        # where output pixel (i, j) of each crop comes from: the window flipped, then transposed
        i = torch.arange(c, device=draws.device).view(1, c, 1)
        j = torch.arange(c, device=draws.device).view(1, 1, c)
        swap, flip_rows, flip_cols = ((turn >> b) & 1 == 1 for b in range(3))
        rows = torch.where(swap, j, i)
        cols = torch.where(swap, i, j)
        rows = torch.where(flip_rows, c - 1 - rows, rows)
        cols = torch.where(flip_cols, c - 1 - cols, cols)
        pixel = (top + rows) * w + left + cols  # (batch, c, c)
        plane = (h * w).unsqueeze(1) * torch.arange(3, device=draws.device).view(1, 3, 1, 1)
        return self.pixels[start.unsqueeze(1) + plane + pixel.unsqueeze(1)]  # (batch, 3, c, c)


def make_lr(hr: Tensor, scale: int, quantize_lr: bool = True) -> Tensor:
    """The LR batch of an HR batch in [0, 1]: MATLAB bicubic by 1/scale, clamped, and rounded to 8 bits.

    This is the degradation that made the benchmarks' LR files; they are 8-bit, so the rounding is kept:
    a network never shown rounding noise meets it at test time.
    """
    lr = imresize(hr, 1 / scale).clamp(0, 1)
    return quantize(lr) if quantize_lr else lr
