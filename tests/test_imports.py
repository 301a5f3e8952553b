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
