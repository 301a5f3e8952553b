"""File safety: writes that never leave a half-written file, a folder lock, and one-line messages.

Every file srlib writes goes through `atomic_path` (a temporary beside the target, fsync'd, then renamed), so
a crash or a full disk keeps the previous file; `check_writable` finds a bad destination before any work;
`folder_lock` keeps two runs out of one folder.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from srlib.errors import UserError

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
    for p in (path, *path.parents):  # a dangling or looping symlink would fail only at the write
        if p.is_symlink() and not p.exists():
            raise UserError(f"cannot write {path}: {p} is a symbolic link to nothing (dangling, or a loop)")
    if path.is_dir() and not folder:
        raise UserError(f"{path} is a folder; give a file name")
    if path.exists() and not (path.is_dir() or path.is_file()):
        raise UserError(f"{path} is not a regular file (a device, pipe or socket): a write would replace it")
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
    longest = max(len(os.fsencode(p.name)) for p in (path, *path.parents)) if path.parts else 0
    if longest > _name_max(existing):
        raise UserError(f"cannot write {path}: a name of {longest} bytes is too long for the file system")
    return path


def _name_max(folder: Path) -> int:
    """The longest file name ``folder``'s file system takes (255 bytes where it cannot be asked)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return 255


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (hard links, symlinks), else the same
    absolute path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def refuse_overwriting_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """A one-line UserError when an output of a command is also one of its inputs, under any name.

    Called before any work: no command may write over what it reads (an export over its checkpoint would
    lose the optimiser, RNG and history; an upscale over another input would then read its own output).
    """
    inputs = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        same = next((p for p in inputs if _same_file(Path(out), p)), None)
        if same is not None:
            raise UserError(
                f"{out} is also an input ({same}): it would be overwritten; choose another output"
            )


def check_new_output(path: str | Path, overwrite: bool) -> Path:
    """A one-line UserError when ``path`` exists and ``overwrite`` is not given, or is a folder anyway."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name, or move the folder away")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it, or choose another output")
    return path


def _no_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of disk: by errno (ENOSPC, EDQUOT) when the error has one, else by the
    disk's free space (torch.save and safetensors report a full disk without an errno)."""
    if isinstance(error, UserError):  # already says what went wrong
        return False
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


@contextmanager
def atomic_path(path: str | Path, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only when the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind: a crash keeps the previous
    file. The data reach the disk (fsync) before the rename. A full disk or the file-size limit raises a
    one-line UserError ("no space left on ...", "file too large"); temporaries left by killed processes are
    removed here. With ``exclusive``, a file that appeared at ``path`` meanwhile (a second srlib writing the
    same output) is kept and the write refused in one line: the temporary is hard-linked, which never
    replaces, instead of renamed.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a rename would replace a device node, even /dev/null
        what = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise UserError(f"cannot write {path}: it is {what}, which a write would replace")
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # removed on failure
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {path}: a file stands where a folder should be") from None
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(  # the name shortened: the temporary's must fit where the target's does
        dir=path.parent, prefix=f".{path.name[:100]}.{os.getpid()}.", suffix=f".partial{path.suffix[:20]}"
    )
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plain open(), not mkstemp's private 0600
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # on the disk before the rename: a power cut keeps the old file or the new
        if exclusive:
            _create(Path(tmp), path)
        else:
            os.replace(tmp, path)
        _fsync_folder(path.parent)
    except Exception as e:
        if _no_space(e, path.parent):
            raise UserError(
                f"no space left on {path.parent}: {path.name} was not written (any earlier one is kept); "
                "free some space and try again"
            ) from None
        if _too_large(e, Path(tmp)):
            raise UserError(
                f"{path}: file too large for the file-size limit (ulimit -f) or the file system; it was not "
                "written (any earlier one is kept)"
            ) from None
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)
        if not path.exists():  # failed: remove the folders made for it, if still empty
            for folder in created:
                with suppress(OSError):
                    folder.rmdir()


def _too_large(error: BaseException, tmp: Path) -> bool:
    """Whether a failed write hit the file-size limit: EFBIG, a library's wrapped message of it, or (where
    torch.save says only "unexpected pos") a temporary as large as the process's limit (``ulimit -f``)."""
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return True
    if "File too large" in str(error) or "os error 27" in str(error):
        return True
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return False
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    try:
        return limit != resource.RLIM_INFINITY and tmp.stat().st_size >= limit
    except OSError:
        return False


def _create(tmp: Path, path: Path) -> None:
    """Give the finished ``tmp`` the name ``path`` only if no file has it: a one-line UserError otherwise."""
    try:
        try:
            os.link(tmp, path)  # atomic, and fails when the name is taken
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: claim the name exclusively, then rename onto it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            os.replace(tmp, path)
    except FileExistsError:
        raise UserError(
            f"{path} was created by another writer while this one ran (two srlib commands on one output?); "
            "it is kept: choose another output, or pass --overwrite"
        ) from None


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
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, where the lock file goes: move it away") from None
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
