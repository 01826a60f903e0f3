"""muP coordinate check: the same model at several widths, trained a few steps; do activations keep their scale?

    python -m train.coord_check                   # muP: exits 0 when every layer type keeps its scale
    python -m train.coord_check --no-mup --out out/coord_check   # standard parametrisation: exits 1

Each width (default 64, 128, 256, 512, at the depth, head size, FFN ratio and muP settings of
``configs/model/tiny.yaml``; widening adds heads, as Tele-FLM does) is trained with AdamW on byte-level
tokens of a real text (the project's README by default; windows drawn with a fixed seed, the same for
every width). At every step the mean absolute activation of each layer type is recorded: embedding output
(after ``input_mult``), attention output, FFN output (both averaged over layers), final hidden state
(after the last norm) and logits, averaged over a few init seeds.

Pass criterion: at the last step, the log-log slope of activation against width lies within
``--tolerance`` (default 0.25) of 0 for every layer type. muP predicts 0. Every way the standard
parametrisation goes wrong predicts at least 0.5: a width-independent init std makes hidden
pre-activations and logits grow as sqrt(width) at init, and Adam's width-independent per-coordinate
updates make them grow as width once training moves them. 0.25 is halfway, wide enough for the
finite-width noise of a 2-layer model over an 8x range of widths. Writes ``{mup,sp}.png`` (one panel per
layer type, one line per step), ``{mup,sp}.csv`` (every value) and ``{mup,sp}.md`` (last-step table and
slopes) atomically to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datapipe.cli import main_of
from datapipe.io import write_files
from datapipe.plots import png, pyplot
from train import mup
from train.config import MODEL_CONFIG_DIR, ModelConfig, load_model_config
from train.model import Transformer, cross_entropy_loss

LAYER_TYPES = ("embedding", "attention", "ffn", "final_hidden", "logits")
DEFAULT_TEXT = Path(__file__).resolve().parent.parent / "README.md"
BYTE_VOCAB = 256


@dataclass(frozen=True)
class Settings:
    widths: tuple[int, ...] = (64, 128, 256, 512)
    steps: int = 8
    batch_size: int = 8
    seq_len: int = 64
    lr: float = 3e-3
    seeds: int = 2
    tolerance: float = 0.25


@dataclass
class Result:
    """Mean |activation| by layer type, step and width (averaged over seeds), and last-step slopes."""

    settings: Settings
    use_mup: bool
    values: dict[str, np.ndarray]  # layer type -> (steps + 1, widths)

    def slope(self, layer_type: str, step: int = -1) -> float:
        """Least-squares slope of log(activation) against log(width)."""
        return float(np.polyfit(np.log(self.settings.widths), np.log(self.values[layer_type][step]), 1)[0])

    def failures(self) -> list[str]:
        return [t for t in LAYER_TYPES if abs(self.slope(t)) > self.settings.tolerance]


def width_config(base: ModelConfig, dim: int, use_mup: bool, seq_len: int) -> ModelConfig:
    """``base`` at hidden size ``dim``: more heads of the same size, the same FFN ratio, byte vocabulary."""
    if dim % base.head_dim:
        raise ValueError(f"width {dim} is not a multiple of head_dim {base.head_dim}")
    return base.with_changes(
        dim=dim,
        n_heads=dim // base.head_dim,
        n_kv_heads=None,
        ffn_dim=round(base.ffn_dim / base.dim * dim),
        vocab_size=BYTE_VOCAB,
        padded_vocab_size=None,
        pad_vocab_to_multiple_of=None,
        max_seq_len=max(seq_len, base.max_seq_len),
        use_mup=use_mup,
        mup_scale_factor=None,  # the width multiplier follows the width
    )


def token_batches(text_path: Path, steps: int, batch_size: int, seq_len: int, seed: int = 0) -> list[torch.Tensor]:
    """``steps + 1`` batches of ``seq_len + 1`` byte tokens, windows drawn with a fixed seed."""
    data = torch.frombuffer(bytearray(text_path.read_bytes()), dtype=torch.uint8).long()
    if len(data) <= seq_len + 1:
        raise ValueError(f"{text_path} is too short for windows of {seq_len + 1} bytes")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(data) - seq_len - 1, (steps + 1, batch_size), generator=gen)
    return [torch.stack([data[s : s + seq_len + 1] for s in row.tolist()]) for row in starts]


@contextmanager
def recording(model: Transformer):
    """Collect mean |activation| per layer type for every forward run inside the block."""
    seen: dict[str, list[float]] = defaultdict(list)

    def keep(layer_type):
        def hook(_module, args, output=None):
            tensor = args[0] if output is None else output
            seen[layer_type].append(tensor.detach().abs().mean().item())
        return hook

    handles = [next(iter(model.layers.values())).register_forward_pre_hook(keep("embedding")),
               model.norm.register_forward_hook(keep("final_hidden")),
               model.register_forward_hook(keep("logits"))]
    for layer in model.layers.values():
        handles.append(layer.attention.register_forward_hook(keep("attention")))
        handles.append(layer.feed_forward.register_forward_hook(keep("ffn")))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def train_and_record(config: ModelConfig, batches: list[torch.Tensor], lr: float, seed: int) -> dict[str, list[float]]:
    """Activations at each of ``len(batches)`` forwards, with an AdamW step after all but the last."""
    model = Transformer(config, seed=seed)
    optimizer = mup.build_optimizer(model, config, lr_vector=lr, lr_matrix=lr)
    per_step: dict[str, list[float]] = defaultdict(list)
    for step, batch in enumerate(batches):
        with recording(model) as seen:
            logits = model(batch[:, :-1])
        for layer_type, values in seen.items():
            per_step[layer_type].append(float(np.mean(values)))
        if step < len(batches) - 1:
            cross_entropy_loss(logits, batch[:, 1:]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return per_step


def run(base: ModelConfig, settings: Settings, use_mup: bool, text_path: Path = DEFAULT_TEXT, progress=None) -> Result:
    batches = token_batches(text_path, settings.steps, settings.batch_size, settings.seq_len)
    grid = {t: np.zeros((settings.steps + 1, len(settings.widths))) for t in LAYER_TYPES}
    for col, width in enumerate(settings.widths):
        config = width_config(base, width, use_mup, settings.seq_len)
        for seed in range(settings.seeds):
            started = time.perf_counter()
            per_step = train_and_record(config, batches, settings.lr, seed)
            for layer_type in LAYER_TYPES:
                grid[layer_type][:, col] += np.array(per_step[layer_type]) / settings.seeds
            if progress:
                elapsed = time.perf_counter() - started
                progress(f"width {width:>5} seed {seed}: {settings.steps} steps in {elapsed:.1f}s")
    return Result(settings, use_mup, grid)


def render_markdown(result: Result) -> str:
    s = result.settings
    name = "muP" if result.use_mup else "standard parametrisation"
    header = ["layer type", *(f"width {w}" for w in s.widths), "slope (last step)", "slope (init)",
              f"within ±{s.tolerance:g}"]
    lines = [f"# Coordinate check: {name}", "",
             f"Mean |activation| after {s.steps} AdamW steps (lr {s.lr:g}, batch {s.batch_size} x {s.seq_len}), "
             f"mean of {s.seeds} seeds.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in LAYER_TYPES:
        cells = [f"{v:.4g}" for v in result.values[t][-1]]
        ok = "yes" if abs(result.slope(t)) <= s.tolerance else "**no**"
        slopes = f"{result.slope(t):+.3f} | {result.slope(t, 0):+.3f}"
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {slopes} | {ok} |")
    verdict = "PASS" if not result.failures() else "FAIL: " + ", ".join(result.failures())
    return "\n".join(lines + ["", verdict, ""])


def render_csv(result: Result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["layer_type", "step", "width", "mean_abs_activation"])
    for t in LAYER_TYPES:
        for step, row in enumerate(result.values[t]):
            for width, value in zip(result.settings.widths, row):
                writer.writerow([t, step, width, f"{value:.6g}"])
    return buf.getvalue()


def render_png(result: Result) -> bytes:
    plt = pyplot()

    s = result.settings
    fig, axes = plt.subplots(1, len(LAYER_TYPES), figsize=(4 * len(LAYER_TYPES), 3.6), sharex=True)
    colors = plt.cm.viridis(np.linspace(0, 1, s.steps + 1))
    for ax, t in zip(axes, LAYER_TYPES):
        for step, row in enumerate(result.values[t]):
            ax.plot(s.widths, row, marker="o", color=colors[step], label=f"step {step}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{t} (slope {result.slope(t):+.2f})")
        ax.set_xlabel("width")
    axes[0].set_ylabel("mean |activation|")
    axes[-1].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"Coordinate check: {'muP' if result.use_mup else 'standard parametrisation'}")
    fig.tight_layout()
    return png(fig, dpi=100)


def cli(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="train.coord_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=MODEL_CONFIG_DIR / "tiny.yaml",
                        help="model config giving depth, head size, FFN ratio and muP settings")
    parser.add_argument("--no-mup", action="store_true", help="standard parametrisation (expected to fail)")
    parser.add_argument("--widths", type=int, nargs="+", default=list(defaults.widths))
    parser.add_argument("--steps", type=int, default=defaults.steps, help="AdamW steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="base learning rate, vector- and matrix-like alike")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="init seeds to average over")
    parser.add_argument("--tolerance", type=float, default=defaults.tolerance, help="allowed |log-log slope|")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="text whose bytes are the training tokens")
    parser.add_argument("--out", type=Path, default=Path("out/coord_check"), help="directory for the png, csv and md")
    args = parser.parse_args(argv)
    base = load_model_config(args.config)
    if len(set(args.widths)) < 2 or any(w <= 0 or w % base.head_dim for w in args.widths):
        parser.error(f"--widths needs at least two distinct multiples of head_dim ({base.head_dim})")
    if not args.text.is_file():
        parser.error(f"--text: no such file: {args.text}")
    if min(args.steps, args.batch_size, args.seq_len, args.seeds) < 1 or args.lr <= 0:
        parser.error("--steps, --batch-size, --seq-len, --seeds and --lr must be positive")
    settings = Settings(tuple(args.widths), args.steps, args.batch_size, args.seq_len, args.lr, args.seeds,
                        args.tolerance)
    started = time.perf_counter()
    result = run(base, settings, not args.no_mup, args.text, progress=lambda m: print(m, file=sys.stderr))
    name = "mup" if result.use_mup else "sp"
    markdown = render_markdown(result)
    files = {f"{name}.md": markdown, f"{name}.csv": render_csv(result), f"{name}.png": render_png(result)}
    write_files(args.out, files)
    print(markdown)
    print(f"wrote {args.out}/{name}.{{md,csv,png}} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 1 if result.failures() else 0


main = main_of(cli)


if __name__ == "__main__":
    sys.exit(main())
