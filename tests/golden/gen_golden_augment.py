#!/usr/bin/python3
"""Writes tests/golden/augment_*.golden: torchvision's functional transforms on
two fixed float images, which tests/test_augment_golden.cpp compares our deterministic
transforms (augment/*.h) against.

Run with Debian's torchvision (python3-torchvision, for /usr/bin/python3), from the
repository root:

    /usr/bin/python3 tests/golden/gen_golden_augment.py

Inputs: "input/rgb", a 3x32x32 image, and "input/gray", a 1x28x28 image, uniform in [0, 1)
plus a few special pixels in the RGB one (gray pixels r = g = b, exact 0s and 1s, ties
between the largest channels) so the branches of the HSV conversion and the clamps run.

Every case "<op>.<image>.<n>" holds "params" (float64, the explicit parameters in the
order given beside CALLS below) and "out", torchvision's result. The file format (SCGOLD01) is
described in tests/golden/README.md; the output is deterministic.
"""
import os
import sys
import warnings

import torch
import torchvision
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import write_golden  # noqa: E402  (the shared SCGOLD01 writer)

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore")  # torchvision 0.14's antialias default notice


def make_inputs():
    gen = torch.Generator().manual_seed(20240604)
    rgb = torch.rand(3, 32, 32, generator=gen)
    gray = torch.rand(1, 28, 28, generator=gen)
    # Special pixels of the RGB image: (row, col) -> (r, g, b).
    special = {
        (0, 0): (0.5, 0.5, 0.5),  # gray: hue undefined, saturation 0
        (0, 1): (0.0, 0.0, 0.0),  # black: max == min == 0
        (0, 2): (1.0, 1.0, 1.0),  # white
        (0, 3): (1.0, 0.0, 0.0),  # pure red, on the hue wrap-around
        (0, 4): (0.7, 0.7, 0.2),  # r == g is the max: red branch wins
        (0, 5): (0.1, 0.8, 0.8),  # g == b is the max: green branch wins
        (0, 6): (0.9, 0.3, 0.9),  # r == b is the max
        (0, 7): (1.0, 0.9, 0.0),  # brightness > 1 clamps
        (5, 5): (0.2, 0.2, 0.2),
        (31, 31): (0.0, 1.0, 0.5),
    }
    for (y, x), value in special.items():
        rgb[:, y, x] = torch.tensor(value)
    return {"rgb": rgb, "gray": gray}


# op -> torchvision call taking (img, params); the params of each op, in order, are in
# the comment beside it.
CALLS = {
    # top, left, height, width, out_height, out_width
    "resized_crop": lambda img, p: TF.resized_crop(img, int(p[0]), int(p[1]), int(p[2]), int(p[3]), [int(p[4]), int(p[5])],
                                                   InterpolationMode.BILINEAR, antialias=False),
    # (none)
    "hflip": lambda img, p: TF.hflip(img),
    # angle in degrees (counter-clockwise), then the fill (one value or one per channel)
    "rotate": lambda img, p: TF.rotate(img, p[0], InterpolationMode.NEAREST, fill=[float(v) for v in p[1:]]),
    # factor
    "adjust_brightness": lambda img, p: TF.adjust_brightness(img, p[0]),
    "adjust_contrast": lambda img, p: TF.adjust_contrast(img, p[0]),
    "adjust_saturation": lambda img, p: TF.adjust_saturation(img, p[0]),
    # hue shift in turns
    "adjust_hue": lambda img, p: TF.adjust_hue(img, p[0]),
    # output channels
    "rgb_to_grayscale": lambda img, p: TF.rgb_to_grayscale(img, int(p[0])),
    # kernel size, sigma
    "gaussian_blur": lambda img, p: TF.gaussian_blur(img, [int(p[0]), int(p[0])], [p[1], p[1]]),
    # threshold
    "solarize": lambda img, p: TF.solarize(img, p[0]),
    # mean per channel, then std per channel
    "normalize": lambda img, p: TF.normalize(img, p[: len(p) // 2], p[len(p) // 2:]),
}

# file -> op -> image -> [params, ...]. Split in four so each file stays under ~100 KB
# (a 3x32x32 float image is 12 KB; every file repeats the two inputs).
FILES = {
    "augment_crop_flip.golden": {
        "resized_crop": {
            "rgb": [[3, 5, 20, 17, 32, 32], [2, 1, 30, 28, 16, 16], [7, 9, 11, 23, 24, 20]],
            "gray": [[4, 2, 20, 20, 28, 28], [0, 0, 28, 28, 28, 28], [10, 4, 8, 12, 28, 28], [1, 3, 27, 25, 14, 10]],
        },
        "hflip": {"rgb": [[]], "gray": [[]]},
    },
    "augment_rotate.golden": {
        "rotate": {
            "rgb": [[30, 0], [17.3, 0.2, 0.5, 0.8], [-123.4, 1]],
            "gray": [[30, 0], [-45, 0.5], [90, 0], [180, 0], [17.3, 0], [-123.4, 1], [7.5, 0], [-160, 0]],
        },
    },
    "augment_color.golden": {
        "adjust_brightness": {"rgb": [[1.4]], "gray": [[0.6]]},
        "adjust_contrast": {"rgb": [[0.5]], "gray": [[1.4]]},
        "adjust_saturation": {"rgb": [[1.7]], "gray": [[1.5]]},
        "rgb_to_grayscale": {"rgb": [[1]], "gray": [[1]]},
        "solarize": {"gray": [[0.3]]},
        "normalize": {"rgb": [[0.4914, 0.4822, 0.4465, 0.247, 0.243, 0.261]], "gray": [[0.286, 0.353]]},
    },
    "augment_hue_blur.golden": {
        "adjust_hue": {"rgb": [[-0.1], [0.25], [0.5]], "gray": [[0.2]]},
        "gaussian_blur": {"rgb": [[5, 1.7]], "gray": [[3, 0.5], [5, 1.7], [9, 3.0]]},
    },
}


def main():
    torch.set_num_threads(1)
    inputs = make_inputs()
    for file_name, ops in FILES.items():
        tensors = {}
        for name, text in (("meta/torch_version", torch.__version__), ("meta/torchvision_version", torchvision.__version__)):
            tensors[name] = torch.tensor(list(text.encode("ascii")), dtype=torch.int64)
        for image_name, image in inputs.items():
            tensors[f"input/{image_name}"] = image
        for op, cases in ops.items():
            for image_name, param_list in cases.items():
                for n, params in enumerate(param_list):
                    case = f"{op}.{image_name}.{n}"
                    out = CALLS[op](inputs[image_name].clone(), [float(v) for v in params])
                    assert out.dtype == torch.float32 and torch.isfinite(out).all(), case
                    tensors[f"{case}/params"] = torch.tensor([float(v) for v in params], dtype=torch.float64)
                    tensors[f"{case}/out"] = out.contiguous()
        write_golden(os.path.join(OUT_DIR, file_name), tensors)


if __name__ == "__main__":
    main()
