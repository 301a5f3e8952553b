"""Add LPIPS-alex and LPIPS-vgg to a committed ``results/reproduction.json`` and rewrite its Markdown.

`srlib reproduce` computes LPIPS itself; this adds it to results made before, without re-running and
re-timing everything else: the same upscalers (nearest, bicubic, the shipped generators), the same quantised
SR images (`srlib.evaluate.measure`) and the same `srlib.lpips.lpips_distance`, with 4 pixels shaved. The
JSON is rewritten after each set, so an interrupted run keeps the sets it finished.

    python scripts/reproduction_lpips.py --out results --datasets Set5 Set14 BSD100
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from srlib.cli import demo_upscalers
from srlib.datasets import benchmark_pairs
from srlib.evaluate import measure
from srlib.files import write_text
from srlib.images import is_grayscale, load_image, modcrop
from srlib.lpips import lpips_distance, lpips_model
from srlib.tables import reproduction_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    args = parser.parse_args()
    path = args.out / "reproduction.json"
    results = json.loads(path.read_text())
    device = re.search(r"\| ours \((.*)\) \|", (args.out / "reproduction.md").read_text()).group(1)
    upscalers = demo_upscalers()
    models = {net: lpips_model(net=net) for net in ("alex", "vgg")}
    for name in args.datasets:
        for image, hr_path, lr_path in benchmark_pairs(name):
            lr, hr = load_image(lr_path)[None], modcrop(load_image(hr_path)[None], 4)
            for method, up in upscalers.items():
                sr = measure(up, lr, hr, 4, gray=is_grayscale(hr_path))[0]
                for net, model in models.items():
                    score = lpips_distance(model, sr, hr, border=4).item()
                    results[method][name]["images"][image][f"lpips_{net}"] = score
        for method in upscalers:
            images = results[method][name]["images"].values()
            for net in models:
                results[method][name][f"lpips_{net}"] = sum(i[f"lpips_{net}"] for i in images) / len(images)
        write_text(path, json.dumps(results, indent=2) + "\n")
        results_only = {k: v for k, v in results.items() if k != "machine"}
        write_text(args.out / "reproduction.md", reproduction_markdown(results_only, device))
        print(
            f"{name}: "
            + ", ".join(
                f"{m} {results[m][name]['lpips_alex']:.4f}/{results[m][name]['lpips_vgg']:.4f}"
                for m in upscalers
            ),
            flush=True,
        )


if __name__ == "__main__":
    with torch.inference_mode():
        main()
