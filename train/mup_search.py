"""The muP hyperparameter search on a narrow proxy, as the Tele-FLM report did it, and the config it gives at the target width.

    python -m train.mup_search --sweep configs/mup/search_cpu.yaml [--out out/mup_search]

The sweep file names the proxy (a model and a run config, with overrides: ``configs/mup/search_cpu.yaml``
is the report's 512-wide proxy at reduced depth, sequence and steps, for a CPU;
``configs/mup/search_proxy.yaml`` the full 64 x 512 proxy for a GPU node), the values held fixed, and
the runs: hand-picked combinations (the report's style), a grid, or a random search over any of the
seven searched hyperparameters (``train.hparams.SEARCHED``). Runs go in parallel processes and stop
early when they diverge (``train/sweep.py``).

Selection, in order (``Selection``):

1. a run must finish: diverged and failed runs are out;
2. it must be stable: its gradient norm must not rise steadily over the second half of the run (the
   report's lesson: a steadily rising gradient norm predicts divergence; "steadily" is a rank
   correlation with the step of at least ``grad_norm_rise_correlation`` together with a rise of at least
   ``grad_norm_rise_ratio`` from the half's lowest value to its last tenth), and its loss must not jump
   (step-to-step changes over the second half with a spread under ``loss_noise`` of the loss);
3. of those, the lowest final loss (mean of the last tenth of the steps): the fastest decrease, since
   every run starts from the same loss; within ``tie`` of each other, the steadier gradient norm wins.

Writes to ``--out``: ``runs/<name>/`` (each run's configs, log, metrics and curves), ``search.md`` and
``search.csv`` (every run with its values, status, final loss, decrease per step, gradient-norm trend
and loss noise, and the verdict), ``search.png`` (loss and gradient norm of every run against the step,
the chosen run drawn bold: the report's Figure 1), ``chosen.json``, and the derived config for the
target width (``derived_model.yaml``, ``derived_optimizer.yaml``, and the effective per-group values
beside the proxy's in ``derived.md``: the shape of Table 4). A chosen value that is the smallest or
largest tried is pointed out: the best may lie beyond. Exits 1 when no run is usable.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from datapipe.cli import main_of
from datapipe.config import StrictModel, load_config, require_existing
from datapipe.io import write_files
from datapipe.plots import png, pyplot
from train import hparams
from train.config import ModelConfig, OptimizerConfig
from train.sweep import (
    Divergence,
    RunResult,
    RunSpec,
    SweepResources,
    final_loss,
    load_yaml,
    merged,
    rank_correlation,
    run_sweep,
    with_values,
)

HParam = Literal[hparams.SEARCHED]  # type: ignore[valid-type]


class Proxy(StrictModel):
    """The proxy every run trains: a model config and a run config, with overrides (dotted keys)."""

    model: str = Field(description="model config (configs/model/*.yaml)")
    train: str = Field(description="run config (configs/train/*.yaml)")
    model_overrides: dict = Field(default_factory=dict)
    train_overrides: dict = Field(default_factory=dict)


class Range(StrictModel):
    low: PositiveFloat
    high: PositiveFloat
    log: bool = Field(True, description="sample log-uniformly (learning rates, stds, multipliers)")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


class RandomSearch(StrictModel):
    samples: PositiveInt
    seed: int = 0
    ranges: dict[HParam, Range]


class Selection(StrictModel):
    """What makes a finished run stable, and how close final losses tie (see the module)."""

    grad_norm_rise_correlation: float = Field(0.7, ge=0, le=1)
    grad_norm_rise_ratio: PositiveFloat = 1.5
    loss_noise: PositiveFloat = 0.05
    tie: float = Field(0.005, ge=0, description="relative difference of final losses that counts as a tie")


class SearchConfig(StrictModel):
    """A sweep file (``configs/mup/*.yaml``): exactly one of ``combinations``, ``grid``, ``random``."""

    proxy: Proxy
    fixed: dict[HParam, float] = Field(default_factory=dict, description="values every run uses")
    combinations: list[dict[HParam, float]] | None = None
    grid: dict[HParam, list[float]] | None = None
    random: RandomSearch | None = None
    target: str = Field("configs/model/52b.yaml", description="the model the chosen values are transferred to")
    divergence: Divergence = Field(default_factory=Divergence)
    resources: SweepResources = Field(default_factory=SweepResources)
    selection: Selection = Field(default_factory=Selection)

    @model_validator(mode="after")
    def _one_kind(self) -> SearchConfig:
        given = [k for k in ("combinations", "grid", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of combinations, grid, random (got {given or 'none'})")
        return self

    def points(self) -> list[dict[str, float]]:
        if self.combinations is not None:
            points = [dict(c) for c in self.combinations]
        elif self.grid is not None:
            names = list(self.grid)
            points = [dict(zip(names, values)) for values in itertools.product(*self.grid.values())]
        else:
            rng = np.random.default_rng(self.random.seed)
            points = []
            for _ in range(self.random.samples):
                point = {}
                for name, r in self.random.ranges.items():
                    u = rng.uniform()
                    point[name] = float(math.exp(math.log(r.low) + u * math.log(r.high / r.low)) if r.log
                                        else r.low + u * (r.high - r.low))
                points.append(point)
        return [{**self.fixed, **p} for p in points]


def run_name(index: int, point: dict[str, float]) -> str:
    return f"{index:02d}-" + "-".join(f"{k}{v:.3g}" for k, v in point.items())


def specs_for(points: list[dict[str, float]], proxy: Proxy) -> list[RunSpec]:
    """One run per point: the proxy's configs with the point's values set where the trainer reads them."""
    model = merged(load_yaml(proxy.model), proxy.model_overrides)
    train = merged(load_yaml(proxy.train), proxy.train_overrides)
    specs = []
    for i, point in enumerate(points):
        m, t = with_values(point, model, train)
        specs.append(RunSpec(run_name(i, point), point, m, t))
    return specs


@dataclass
class Derived:
    """The chosen values carried to the target model: its config, the optimizer section, and the table
    of the seven hyperparameters set (base width) and in effect on the proxy and on the target."""

    model: dict
    optimizer: dict
    table: str


def transfer(spec: RunSpec, target: dict) -> Derived:
    """The target model with the chosen run's base-width values. The configs hold every hyperparameter
    at the base width, so transfer is a copy: the target's ``base_dim`` becomes the proxy's width, and
    muP scales the values at the target's width (``train.hparams``)."""
    proxy = ModelConfig.model_validate(spec.model)
    optimizer = OptimizerConfig.model_validate(spec.train.get("optimizer", {}))
    model = {**target, **{k: getattr(proxy, k) for k in hparams.SEARCHED if hparams.SECTION[k] == "model"},
             "base_dim": proxy.dim, "use_mup": True}
    if target.get("mup_scale_factor") is not None:
        model["mup_scale_factor"] = target["mup_scale_factor"]  # a released multiplier the width does not give
    derived = ModelConfig.model_validate(model)
    on_proxy, on_target = hparams.effective(proxy, optimizer), hparams.effective(derived, optimizer)
    lines = [f"| hyperparameter | set (base width {proxy.dim}) | in effect on the proxy (x{on_proxy['width_mult']:g}) | "
             f"in effect on the target, dim {derived.dim:,} (x{on_target['width_mult']:g}) |", "|---|---:|---:|---:|"]
    for name in hparams.SEARCHED:
        lines.append(f"| {name} | {on_proxy['base'][name]:.6g} | {on_proxy[name]:.6g} | {on_target[name]:.6g} |")
    return Derived(model, {k: getattr(optimizer, k) for k in hparams.SEARCHED if hparams.SECTION[k] == "optimizer"},
                   "\n".join(lines))


# --- judging the runs ------------------------------------------------------------------------------


def measures(result: RunResult) -> dict:
    """Final loss, loss decrease per step, and the stability figures of the second half of the run."""
    half = len(result.loss) // 2
    grads, losses = result.grad_norm[half:], np.array(result.loss[half:])
    tenth = max(1, len(grads) // 10)
    rise = float(np.mean(grads[-tenth:]) / min(grads)) if grads and min(grads) > 0 else math.nan
    noise = float(np.std(np.diff(losses)) / np.mean(losses)) if len(losses) > 2 else math.nan
    final = final_loss(result)
    decrease = (result.loss[0] - final) / max(1, result.steps[-1] - result.steps[0]) if result.loss else math.nan
    return {"final_loss": final, "decrease_per_step": decrease, "grad_norm_trend": rank_correlation(grads),
            "grad_norm_rise": rise, "loss_noise": noise}


def verdict(result: RunResult, m: dict, sel: Selection) -> str:
    """``ok``, or why the run cannot be chosen."""
    if not result.ok:
        return result.status
    if m["grad_norm_trend"] >= sel.grad_norm_rise_correlation and m["grad_norm_rise"] >= sel.grad_norm_rise_ratio:
        return "rising gradient norm"
    if not m["loss_noise"] < sel.loss_noise:
        return "noisy loss"
    return "ok"


def choose(results: list[RunResult], sel: Selection) -> tuple[list[dict], int | None]:
    """A row per run (values, measures, verdict) and the index of the chosen run (None: none usable)."""
    rows = []
    for r in results:
        m = measures(r)
        rows.append({"run": r.spec.name, **r.spec.params, **m, "status": r.status, "steps": r.steps[-1] if r.steps else 0,
                     "seconds": r.seconds, "verdict": verdict(r, m, sel)})
    usable = [i for i, row in enumerate(rows) if row["verdict"] == "ok"]
    if not usable:
        return rows, None
    best = min(rows[i]["final_loss"] for i in usable)
    tied = [i for i in usable if rows[i]["final_loss"] <= best * (1 + sel.tie)]
    chosen = min(tied, key=lambda i: (rows[i]["grad_norm_trend"], rows[i]["final_loss"]))
    rows[chosen]["verdict"] = "chosen"
    return rows, chosen


def at_the_edge(chosen: dict[str, float], points: list[dict[str, float]]) -> list[str]:
    """The hyperparameters tried at three or more values whose chosen value is the smallest or largest tried."""
    edges = []
    for name, value in chosen.items():
        tried = {p[name] for p in points if name in p}
        if len(tried) > 2 and value in (min(tried), max(tried)):
            edges.append(name)
    return edges


# --- reports ---------------------------------------------------------------------------------------


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def table_md(rows: list[dict], names: list[str]) -> str:
    cols = ["run", *names, "status", "steps", "final_loss", "decrease_per_step", "grad_norm_trend", "grad_norm_rise",
            "loss_noise", "seconds", "verdict"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |" for row in rows]
    return "\n".join(lines)


def table_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for row in rows for k in row))
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def curves_png(results: list[RunResult], chosen: int | None, title: str) -> bytes:
    """Loss and gradient norm against the step for every run; the chosen one bold, stopped ones dashed."""
    plt = pyplot()

    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(13, 4.8))
    varied = [k for k in dict.fromkeys(k for r in results for k in r.spec.params)
              if len({r.spec.params.get(k) for r in results}) > 1]  # the legend names what differs
    for i, r in enumerate(results):
        if not r.loss:
            continue
        style = {"lw": 2.6, "color": "black", "zorder": 3} if i == chosen else {"lw": 1.0, "alpha": 0.8}
        if not r.ok:
            style["ls"] = "--"
        label = ", ".join(f"{k} {r.spec.params[k]:.3g}" for k in varied if k in r.spec.params) + ("" if r.ok else f" ({r.status})")
        ax_loss.plot(r.steps, r.loss, label=label, **style)
        ax_grad.plot(r.steps, r.grad_norm, **style)
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    ax_grad.set(xlabel="step", ylabel="gradient norm", title="gradient norm", yscale="log")
    ax_loss.legend(fontsize=6, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return png(fig)


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.mup_search", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--sweep", required=True, help="sweep file (configs/mup/*.yaml)")
    p.add_argument("--out", default="out/mup_search", help="output directory (runs already done there are reused)")
    args = p.parse_args(argv)
    cfg = load_config(SearchConfig, args.sweep)
    for key, value in (("proxy.model", cfg.proxy.model), ("proxy.train", cfg.proxy.train), ("target", cfg.target)):
        require_existing(key, value, args.sweep, "config file")
    out = Path(args.out)
    points = cfg.points()
    names = list(dict.fromkeys(k for point in points for k in point))
    specs = specs_for(points, cfg.proxy)
    results = run_sweep(specs, out / "runs", cfg.resources, cfg.divergence)
    rows, chosen = choose(results, cfg.selection)
    md = table_md(rows, names)
    files = {"search.md": f"# muP search: {args.sweep}\n\n{md}\n", "search.csv": table_csv(rows),
             "search.png": curves_png(results, chosen, f"muP search on the proxy ({Path(args.sweep).name})")}
    print(md)
    if chosen is None:
        write_files(out, files)
        print("no run finished stably: widen the ranges or lower the learning rates", file=sys.stderr)
        return 1
    edges = at_the_edge(specs[chosen].params, points)
    if edges:
        note = (f"The chosen {', '.join(edges)} {'is' if len(edges) == 1 else 'are'} the smallest or largest value tried: "
                "the best may lie beyond, widen the search there.")
        files["search.md"] += f"\n{note}\n"
        print(f"\nnote: {note}")
    derived = transfer(specs[chosen], load_yaml(cfg.target))
    files.update({
        "chosen.json": json.dumps({"run": specs[chosen].name, "values": specs[chosen].params, "target": cfg.target},
                                  indent=1) + "\n",
        "derived_model.yaml": yaml.safe_dump(derived.model, sort_keys=False),
        "derived_optimizer.yaml": yaml.safe_dump({"optimizer": derived.optimizer}, sort_keys=False),
        "derived.md": derived.table + "\n",
    })
    write_files(out, files)
    print(f"\nchosen: {specs[chosen].name}\n\n{derived.table}\n\nwritten to {out}/")
    return 0


main = main_of(run)

if __name__ == "__main__":
    raise SystemExit(main())
