"""Generate images of one class from a deployment bundle and save them as a PNG grid.

Usage:
    python -m acgan_search.sample BUNDLE_DIR --label 7 -n 16 --seed 0 --out sevens.png

Only the bundle is read: the generator is loaded from ``generator.keras`` with Keras' safe
mode, and the noise is drawn from ``--seed`` exactly as training draws it, so the same label,
count and seed always give the same images. Existing ``--out`` and ``--array`` files are
kept unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from acgan_search.cli import check_image_suffix, check_minimum, check_new_file, check_seed, configure_logging, run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m acgan_search.sample", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument("bundle_dir", help="bundle directory written by python -m acgan_search.export")
    parser.add_argument("--label", type=int, required=True, help="class index to generate")
    parser.add_argument("-n", "--count", type=int, default=16, help="number of images (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise vectors (default: %(default)s)")
    parser.add_argument("--columns", type=int, default=None, help="images per grid row (default: about sqrt(n))")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--array", default=None, help="also save the images as float32 NHWC in [0, 1] to this .npy file")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out and --array files")
    parser.add_argument("--verbose", action="store_true", help="log DEBUG lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        import numpy as np

        from acgan_search.reporting.bundle import load_bundle
        from acgan_search.training.grid import save_grid_png

        check_minimum("-n", args.count, 1)
        check_seed("--seed", args.seed)
        check_minimum("--columns", args.columns, 1)
        check_new_file("--out", args.out, overwrite=args.overwrite)
        check_image_suffix("--out", args.out)
        # numpy.save appends .npy to a name without it; check the file it will write.
        array_path = None
        if args.array:
            check_new_file("--array", args.array, overwrite=args.overwrite)
            array_path = args.array if args.array.endswith(".npy") else args.array + ".npy"
            check_new_file("--array", array_path, overwrite=args.overwrite)
        bundle = load_bundle(args.bundle_dir)
        labels = np.full(args.count, args.label, dtype=np.int32)
        images = bundle.generate(labels, args.seed)
        columns = args.columns or math.ceil(math.sqrt(args.count))
        rows = math.ceil(args.count / columns)
        # Pad the last row with black tiles so the grid is rectangular.
        padding = np.full((rows * columns - args.count, *images.shape[1:]), 0.0, np.float32)
        save_grid_png(np.concatenate([images, padding]) * 2.0 - 1.0, rows, columns, Path(args.out))
        if array_path:
            np.save(array_path, images)
        print(f"wrote {args.count} images of class {args.label} to {args.out}")
        if array_path:
            print(f"wrote their float32 array in [0, 1] to {array_path}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
