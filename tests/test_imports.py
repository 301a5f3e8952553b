"""What importing srlib costs and gives: a light ``import srlib``, submodules not shadowed by functions."""

import subprocess
import sys

import srlib


def modules_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(done.stdout.split())


def test_import_srlib_imresize_as_gives_the_module_not_the_function():
    import srlib.imresize as R

    assert R.__name__ == "srlib.imresize" and callable(R.imresize) and callable(R.make_lr)
    from srlib import imresize

    assert imresize is R


def test_the_public_names_resolve_to_their_definitions():
    from srlib.images import load_image
    from srlib.models import SRResNet
    from srlib.weights import load_pretrained

    assert (srlib.load_pretrained, srlib.SRResNet) == (load_pretrained, SRResNet)
    assert srlib.load_image is load_image
    assert all(hasattr(srlib, name) for name in srlib.__all__)
    assert srlib.train.TrainConfig.__name__ == "TrainConfig"  # submodules load on first use, too


def test_import_srlib_does_not_import_torch():
    loaded = modules_after("import srlib")
    assert "srlib" in loaded and "torch" not in loaded
    assert "torch" in modules_after("import srlib; srlib.psnr")  # and a public name brings it in


def run_srlib(*argv: str, interrupt_at: str | None = None) -> subprocess.CompletedProcess:
    """``python -m srlib ARGV`` in a fresh interpreter; ``interrupt_at``: a module whose import is hit by
    Ctrl-C (KeyboardInterrupt raised as it starts loading). Prints the loaded modules at exit, on stdout."""
    code = f"""
import atexit, builtins, runpy, sys
atexit.register(lambda: print("MODULES", *sys.modules))
real_import = builtins.__import__
def ctrl_c_at(name, *args, **kwargs):
    if name == {interrupt_at!r}:
        raise KeyboardInterrupt
    return real_import(name, *args, **kwargs)
builtins.__import__ = ctrl_c_at
sys.argv = ["srlib", *{list(argv)!r}]
runpy.run_module("srlib", run_name="__main__", alter_sys=True)
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def loaded(done: subprocess.CompletedProcess) -> set[str]:
    return set(done.stdout.rsplit("MODULES", 1)[1].split())


def test_srlib_help_answers_without_importing_torch():
    for argv in (["--help"], ["train", "srgan", "--help"], ["evaluate", "--help"]):
        done = run_srlib(*argv)
        assert done.returncode == 0 and "usage: srlib" in done.stdout
        assert "torch" not in loaded(done), argv


def test_a_bad_command_line_is_one_line_naming_help_without_importing_torch():
    for argv in (["evalute"], ["train", "srresnet", "--steps", "x"], ["train", "srresnet"], []):
        done = run_srlib(*argv)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("srlib: error: "), done.stderr
        assert done.stderr.rstrip().endswith("--help"), done.stderr
        assert "torch" not in loaded(done)
    assert (
        "invalid int value: 'x'; see srlib train srresnet --help"
        in run_srlib("train", "srresnet", "--steps", "x").stderr
    )


def test_ctrl_c_while_the_modules_load_is_one_line_and_exit_130():
    # torch: loaded by a command (demo); srlib.config: loaded by the command line itself, before main() runs
    for module in ("torch", "srlib.config"):
        done = run_srlib("demo", "--out", "unused", interrupt_at=module)
        assert (done.returncode, done.stderr) == (130, "srlib: interrupted\n"), (module, done.stderr)
