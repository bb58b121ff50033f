"""``symtoe animate``, run the way a user runs it: a subprocess writing a GIF
whose frames are the output positions torch computes."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

pytestmark = pytest.mark.slow


def symtoe(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symtoe", *args], capture_output=True,
                          text=True, timeout=180, cwd=cwd)


def test_help_lists_animate_with_the_layer_options():
    run = symtoe("--help")
    assert run.returncode == 0 and "animate" in run.stdout
    run = symtoe("animate", "--help")
    assert run.returncode == 0
    for option in ["--kernel-size", "--input-size", "--stride", "--padding", "--dilation",
                   "--padding-mode", "--flip", "--transposed", "--output-padding", "-o",
                   "--interval"]:
        assert option in run.stdout


@pytest.mark.parametrize(
    "args, output_shape",
    [
        (["--kernel-size", "3", "--input-size", "5"],
         lambda: F.conv1d(torch.zeros(1, 1, 5), torch.zeros(1, 1, 3)).shape[2:]),
        (["--kernel-size", "3", "--input-size", "4", "4", "--padding", "1", "--stride", "2",
          "--padding-mode", "reflect"],
         lambda: F.conv2d(F.pad(torch.zeros(1, 1, 4, 4), (1, 1, 1, 1), mode="reflect"),
                          torch.zeros(1, 1, 3, 3), stride=2).shape[2:]),
        (["--kernel-size", "3", "--input-size", "3", "--stride", "2", "--transposed"],
         lambda: torch.zeros(3).shape),  # one frame per input of the transposed layer
    ],
    ids=["1d", "2d-reflect-stride", "1d-transposed"],
)
def test_writes_a_gif_with_one_frame_per_window(args, output_shape, tmp_path):
    out = tmp_path / "conv.gif"
    run = symtoe("animate", *args, "--dpi", "30", "--interval", "500", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stderr
    with Image.open(out) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == torch.Size(output_shape()).numel()
        assert gif.info["duration"] == 500


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kernel-size", "3", "--input-size", "5", "-o", "conv.avi"],
         "path must end in .gif or .mp4, but got 'conv.avi'"),
        (["--kernel-size", "3", "--input-size", "5", "--in-channels", "2", "-o", "conv.gif"],
         "one input and one output channel"),
    ],
    ids=["suffix", "channels"],
)
def test_refuses_with_a_clear_message(args, message, tmp_path):
    run = symtoe("animate", *args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "conv.gif").exists()
