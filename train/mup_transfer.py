"""The muTransfer check: does the best learning rate stay put across widths with this implementation's muP?

    python -m train.mup_transfer --sweep configs/mup/transfer_cpu.yaml [--out out/mup_transfer]

The same short run (the sweep file's ``proxy``: a model and a run config with overrides) at three or
more widths (more heads of the same size, the same FFN ratio; ``base_width`` is muP's ``base_dim``), for
every learning rate of a grid (each run sets all of ``swept`` to it: by default the vector-like and the
matrix-like rate at the base width), with muP and with the standard parametrisation (``use_mup: false``:
the same init stds, learning rates and multipliers at every width). Runs go in parallel processes and
stop when they diverge (``train/sweep.py``); a run's loss is the mean of its last tenth of steps.

Transfer holds, for muP, when (1) at every width the best learning rate is within ``max_shift`` grid steps
(default 1) of the base width's best, and (2) at the base width's best learning rate, every wider model
reaches a lower loss than the next narrower one ("wider is better"). For the standard parametrisation
the shift of the optimum is reported, not judged: it is what muP removes.

Writes to ``--out``: ``runs/<name>/``, ``transfer.md`` and ``transfer.csv`` (loss per width and learning
rate, the best rate per width, the verdict), ``transfer.png`` (loss against log2 learning rate, a line per
width, muP and standard side by side: the figure of the muP paper). Exits 1 when transfer does not hold.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from datapipe.cli import main_of
from datapipe.config import StrictModel, load_config, require_existing
from datapipe.io import write_files
from datapipe.plots import png, pyplot
from train import hparams
from train.config import OptimizerConfig
from train.mup_search import Proxy
from train.sweep import Divergence, RunResult, RunSpec, SweepResources, final_loss, load_yaml, merged, run_sweep, with_values

Parametrisation = Literal["mup", "sp"]
HParam = Literal[hparams.SEARCHED]  # type: ignore[valid-type]


class TransferConfig(StrictModel):
    """A transfer sweep file (``configs/mup/transfer_*.yaml``)."""

    proxy: Proxy
    widths: list[PositiveInt] = Field(min_length=3, description="hidden sizes, multiples of the model's head_dim")
    base_width: PositiveInt = Field(description="muP's base_dim: the width whose best learning rate transfers")
    learning_rates: list[PositiveFloat] = Field(min_length=3, description="the grid, ascending")
    swept: list[HParam] = Field(default_factory=lambda: ["lr_vector", "lr_matrix"], min_length=1)
    parametrisations: list[Parametrisation] = Field(default_factory=lambda: ["mup", "sp"], min_length=1)
    max_shift: NonNegativeInt = Field(1, description="grid steps the best learning rate may move across widths")
    divergence: Divergence = Field(default_factory=Divergence)
    resources: SweepResources = Field(default_factory=SweepResources)

    @field_validator("widths", "learning_rates")
    @classmethod
    def _ascending(cls, v: list) -> list:
        if sorted(set(v)) != v:
            raise ValueError("must be ascending, without repeats")
        return v

    @model_validator(mode="after")
    def _check(self) -> TransferConfig:
        if "mup" not in self.parametrisations:
            raise ValueError("parametrisations must include mup: it is what the check is about")
        if self.base_width not in self.widths:
            raise ValueError(f"base_width {self.base_width} is not one of the widths {self.widths}")
        return self


def at_width(model: dict, width: int, base_width: int, parametrisation: str) -> dict:
    """``model`` at hidden size ``width``: heads of the same size, the same FFN ratio, muP based at ``base_width``."""
    head_dim = model["head_dim"]
    if width % head_dim:
        raise ValueError(f"width {width} is not a multiple of head_dim {head_dim}")
    out = {**model, "dim": width, "n_heads": width // head_dim, "n_kv_heads": None,
           "ffn_dim": round(model["ffn_dim"] / model["dim"] * width), "mup_scale_factor": None,
           "use_mup": parametrisation == "mup", "base_dim": base_width}
    return out


def specs_for(cfg: TransferConfig) -> list[RunSpec]:
    model = merged(load_yaml(cfg.proxy.model), cfg.proxy.model_overrides)
    train = merged(load_yaml(cfg.proxy.train), cfg.proxy.train_overrides)
    floor = OptimizerConfig.model_validate(train.get("optimizer", {})).min_lr_ratio
    specs = []
    for p in cfg.parametrisations:
        for width in cfg.widths:
            for lr in cfg.learning_rates:
                values = {"lr_min": lr * floor, **dict.fromkeys(cfg.swept, lr)}  # every run decays to the same fraction
                m, t = with_values(values, at_width(model, width, cfg.base_width, p), train)
                specs.append(RunSpec(f"{p}-w{width}-lr{lr:.3g}", {"lr": lr}, m, t, {"parametrisation": p, "width": width}))
    return specs


def analyse(cfg: TransferConfig, results: list[RunResult]) -> dict[str, dict]:
    """Per parametrisation: loss[width][lr index] (inf when the run did not finish), the best index per
    width, the shift of each from the base width's, the losses at the base width's best rate, and for
    muP the verdict."""
    out = {}
    for p in cfg.parametrisations:
        loss = {w: [math.inf] * len(cfg.learning_rates) for w in cfg.widths}
        for r in results:
            if r.spec.labels["parametrisation"] == p and r.ok:
                loss[r.spec.labels["width"]][cfg.learning_rates.index(r.spec.params["lr"])] = final_loss(r)
        best = {w: min(range(len(v)), key=v.__getitem__) if min(v) < math.inf else None for w, v in loss.items()}
        base = best[cfg.base_width]
        shift = {w: (b - base if b is not None and base is not None else None) for w, b in best.items()}
        at_base = [loss[w][base] if base is not None else math.inf for w in cfg.widths]
        problems = []
        if any(b is None for b in best.values()):
            problems.append("a width has no finished run")
        elif max(abs(s) for s in shift.values()) > cfg.max_shift:
            problems.append(f"the best learning rate moves by up to {max(abs(s) for s in shift.values())} grid steps "
                            f"(allowed {cfg.max_shift})")
        if not all(b < a for a, b in zip(at_base, at_base[1:])):
            problems.append("at the base width's best learning rate, a wider model is not better")
        out[p] = {"loss": loss, "best": best, "shift": shift, "at_base": at_base, "problems": problems}
    return out


def report_md(cfg: TransferConfig, analysis: dict) -> str:
    lrs = cfg.learning_rates
    lines = []
    for p, a in analysis.items():
        lines += [f"## {'muP' if p == 'mup' else 'standard parametrisation'}", "",
                  "| width | " + " | ".join(f"lr {lr:.3g}" for lr in lrs) + " | best lr | shift |",
                  "|---:|" + "---:|" * (len(lrs) + 2)]
        for w in cfg.widths:
            cells = [("**%.4f**" if i == a["best"][w] else "%.4f") % v if v < math.inf else "diverged"
                     for i, v in enumerate(a["loss"][w])]
            best = f"{lrs[a['best'][w]]:.3g}" if a["best"][w] is not None else "-"
            shift = f"{a['shift'][w]:+d}" if a["shift"][w] is not None else "-"
            lines.append(f"| {w} | " + " | ".join(cells) + f" | {best} | {shift} |")
        if p == "mup":
            lines += ["", "Transfer holds." if not a["problems"] else "Transfer does NOT hold: " + "; ".join(a["problems"]) + "."]
        else:
            shifts = [s for s in a["shift"].values() if s is not None]
            lines += ["", f"The optimum moves by up to {max(map(abs, shifts), default=0)} grid steps across widths."]
        lines.append("")
    return "\n".join(lines)


def report_csv(cfg: TransferConfig, results: list[RunResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["parametrisation", "width", "lr", "status", "final_loss", "steps", "seconds"])
    for r in results:
        w.writerow([r.spec.labels["parametrisation"], r.spec.labels["width"], r.spec.params["lr"], r.status,
                    final_loss(r) if r.ok else "", r.steps[-1] if r.steps else 0, r.seconds])
    return buf.getvalue()


def report_png(cfg: TransferConfig, analysis: dict) -> bytes:
    plt = pyplot()

    fig, axes = plt.subplots(1, len(analysis), figsize=(6 * len(analysis), 4.5), sharey=True, squeeze=False)
    x = [math.log2(lr) for lr in cfg.learning_rates]
    finite = [v for a in analysis.values() for row in a["loss"].values() for v in row if v < math.inf]
    for ax, (p, a) in zip(axes[0], analysis.items()):
        for w in cfg.widths:
            ys = [v if v < math.inf else float("nan") for v in a["loss"][w]]
            line, = ax.plot(x, ys, marker="o", label=f"width {w}")
            if a["best"][w] is not None:
                ax.plot(x[a["best"][w]], ys[a["best"][w]], marker="*", ms=14, color=line.get_color())
        ax.set(xlabel="log2 learning rate", title="muP" if p == "mup" else "standard parametrisation")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("training loss (last tenth of the steps)")
    if finite:
        lo, hi = min(finite), max(finite)
        axes[0][0].set_ylim(lo - 0.05 * (hi - lo), min(hi, lo + 3 * (hi - lo) / 2) + 0.05 * (hi - lo))
    fig.tight_layout()
    return png(fig)


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.mup_transfer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--sweep", required=True, help="transfer sweep file (configs/mup/transfer_*.yaml)")
    p.add_argument("--out", default="out/mup_transfer", help="output directory (runs already done there are reused)")
    args = p.parse_args(argv)
    cfg = load_config(TransferConfig, args.sweep)
    for key, value in (("proxy.model", cfg.proxy.model), ("proxy.train", cfg.proxy.train)):
        require_existing(key, value, args.sweep, "config file")
    out = Path(args.out)
    results = run_sweep(specs_for(cfg), out / "runs", cfg.resources, cfg.divergence)
    analysis = analyse(cfg, results)
    md = report_md(cfg, analysis)
    write_files(out, {"transfer.md": f"# muTransfer check: {args.sweep}\n\n{md}", "transfer.csv": report_csv(cfg, results),
                      "transfer.png": report_png(cfg, analysis)})
    print(md + f"\nwritten to {out}/")
    return 1 if analysis["mup"]["problems"] else 0


main = main_of(run)

if __name__ == "__main__":
    raise SystemExit(main())
