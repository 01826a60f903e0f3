"""The seven muP hyperparameters the Tele-FLM report searched (its Table 4), as a config sets them and as they take effect at its width.

    python -m train.hparams --model configs/model/52b.yaml            # beside Table 4 and the released config.json
    python -m train.hparams --train configs/train/1t.yaml --json      # the run's model and learning rates, as JSON

A config holds each hyperparameter at the base width (the proxy's, ``base_dim``), where a muP search sets
it: ``std_vector``, ``std_matrix``, ``input_mult`` and ``output_mult`` in the model config, ``lr_vector``,
``lr_matrix`` and ``lr_min`` in the run config's ``optimizer`` (without ``--train``, the optimizer's
defaults, which are Table 4's). At a width multiplier ``m`` (``mup_scale_factor``, by default ``dim /
base_dim``) muP gives hidden matrices the learning rate ``lr_matrix / m`` and the init std ``std_matrix /
sqrt(m)`` (output projections also ``/ sqrt(2 n_layers)``), the logits the multiplier ``output_mult / m``;
vector-like weights (embeddings, LM head, norm gains) keep ``lr_vector`` and ``std_vector`` at every width.
Every group decays to the same fraction ``lr_min / lr_vector`` of its peak, so ``lr_min`` is the floor of
the vector-like rate and the matrices' floor is theirs scaled alike.

How Table 4 maps onto the config. Table 4 describes the 52B run (it also gives that run's batch, warmup and
schedule), and its values are those in effect at the 52B's width, multiplier 16: its Output Mult 3.125e-2
can only be the released 52B's ``output_mult`` 0.5 divided by its ``mup_scale_factor`` 16, and its LR
1.5e-4 to 1.5e-5 is the 52B run's. Read the same way, every row is the value in effect at 52B, and the
base-width (proxy) values are:

    Table 4 (52B)                     field                  base width (proxy)   at 52B (m = 16)
    Learning Rate          1.5e-4     optimizer.lr_vector    1.5e-4               1.5e-4
    Matrix Learning Rate   1.5e-4     optimizer.lr_matrix    2.4e-3 (x 16)        1.5e-4
    Minimum Learning Rate  1.5e-5     optimizer.lr_min       1.5e-5               1.5e-5 (matrices too)
    Init Std               4e-3       model.std_vector       4e-3                 4e-3
    Matrix Init Std        4.242e-3   model.std_matrix       1.6968e-2 (x 4)      4.242e-3
    Input Mult             1.0        model.input_mult       1.0                  1.0
    Output Mult            3.125e-2   model.output_mult      0.5 (x 16)           3.125e-2

The other reading (the rows are the proxy's, transferred by muP) would give the 52B a matrix LR of 9.4e-6
and logits 16 times smaller than the release's; the released ``output_mult`` rules it out. The released
1T (``config.json`` of CofeAI/Tele-FLM-1T) sets ``output_mult`` 2.0 and ``mup_scale_factor`` 80 where
``dim / base_dim`` is 40; ``configs/model/1t.yaml`` sets both, and every muP rule uses the 80. The 1T
release gives no learning rates or init stds.
"""

from __future__ import annotations

import argparse
import json
import math

from datapipe.cli import main_of
from train import mup
from train.config import ModelConfig, OptimizerConfig, load_model_config, load_train_config

SEARCHED = ("lr_vector", "lr_matrix", "lr_min", "std_vector", "std_matrix", "input_mult", "output_mult")
"""The seven hyperparameters of Table 4, by the name of the config field that holds each (at the base width)."""

SECTION = {"lr_vector": "optimizer", "lr_matrix": "optimizer", "lr_min": "optimizer", "std_vector": "model",
           "std_matrix": "model", "input_mult": "model", "output_mult": "model"}
"""Where each field lives: the run config's ``optimizer`` section, or the model config."""

TABLE_4 = {"lr_vector": 1.5e-4, "lr_matrix": 1.5e-4, "lr_min": 1.5e-5, "std_vector": 4e-3, "std_matrix": 4.242e-3,
           "input_mult": 1.0, "output_mult": 3.125e-2}
"""Table 4 of the Tele-FLM report (arXiv:2404.16645): the values in effect in the 52B model."""

TABLE_4_MODEL = {"dim": 8192, "n_layers": 64}
"""The model Table 4 describes (Tele-FLM 52B)."""

RELEASED = {
    "CofeAI/Tele-FLM": {"hidden_size": 8192, "num_hidden_layers": 64, "use_mup": True, "input_mult": 1.0,
                        "output_mult": 0.5, "mup_scale_factor": 16.0},
    "CofeAI/Tele-FLM-1T": {"hidden_size": 20480, "num_hidden_layers": 140, "use_mup": True, "input_mult": 1.0,
                           "output_mult": 2.0, "mup_scale_factor": 80.0},
}
"""The muP keys of the released checkpoints' ``config.json`` (Hugging Face), with the shape that identifies each."""

GROUPS = (
    (mup.Role.EMBEDDING, "tok_embeddings"),
    (mup.Role.READOUT, "output (LM head)"),
    (mup.Role.NORM, "attention_norm, ffn_norm, norm"),
    (mup.Role.MATRIX, "wq, wk, wv, w1, w3"),
    (mup.Role.OUTPUT_PROJECTION, "wo, w2"),
)


def released_for(model: ModelConfig) -> tuple[str, dict] | None:
    """The released checkpoint of this model's shape, and its ``config.json`` muP keys; None if none was released."""
    for name, cfg in RELEASED.items():
        if (cfg["hidden_size"], cfg["num_hidden_layers"]) == (model.dim, model.n_layers):
            return name, cfg
    return None


def config_json(model: ModelConfig) -> dict:
    """The muP keys of a released-style ``config.json`` for this model (what ``train.export_hf`` records)."""
    return {"use_mup": model.use_mup, "input_mult": model.input_mult, "output_mult": model.output_mult,
            "mup_scale_factor": model.width_mult}


def groups(model: ModelConfig, optimizer: OptimizerConfig) -> list[dict]:
    """Per muP role, the values in effect at this width: peak and minimum LR, init std, weight decay (the
    rules of ``train.mup``: ``lr_multiplier``, ``init_std``, ``param_groups``)."""
    rows = []
    for role, parameters in GROUPS:
        mult = mup.lr_multiplier(role, model)
        peak = (optimizer.lr_matrix if role in mup.MATRIX_ROLES else optimizer.lr_vector) * mult
        rows.append({"group": role.value, "parameters": parameters, "lr": peak, "lr_min": optimizer.lr_min * (peak / optimizer.lr_vector),
                     "init_std": 1.0 if role is mup.Role.NORM else mup.init_std(role, model),
                     "init": "ones" if role is mup.Role.NORM else "truncated normal",
                     "weight_decay": 0.0 if role is mup.Role.NORM else optimizer.weight_decay / mult})
    return rows


def effective(model: ModelConfig, optimizer: OptimizerConfig) -> dict:
    """The seven hyperparameters in effect at this config's width (the keys of ``SEARCHED``), with the
    width multiplier, the base-width values the configs hold, every group's values and the released
    ``config.json`` this model's shape matches."""
    by_role = {row["group"]: row for row in groups(model, optimizer)}
    matrix, vector = by_role[mup.Role.MATRIX.value], by_role[mup.Role.EMBEDDING.value]
    base = {name: getattr(optimizer if SECTION[name] == "optimizer" else model, name) for name in SEARCHED}
    released = released_for(model)
    return {
        "lr_vector": vector["lr"], "lr_matrix": matrix["lr"], "lr_min": vector["lr_min"], "lr_min_matrix": matrix["lr_min"],
        "std_vector": model.std_vector, "std_matrix": matrix["init_std"],
        "std_output_projection": by_role[mup.Role.OUTPUT_PROJECTION.value]["init_std"],
        "input_mult": model.input_mult if model.use_mup else 1.0,
        "output_mult": model.output_mult / model.width_mult if model.use_mup else 1.0,
        "width_mult": model.width_mult,
        "width_mult_from": "mup_scale_factor" if model.mup_scale_factor is not None else ("dim / base_dim" if model.use_mup else "no muP"),
        "base": base,
        "groups": list(by_role.values()),
        "config_json": config_json(model),
        "released": {"name": released[0], **released[1]} if released else None,
    }


def _num(value: float) -> str:
    return f"{value:.6g}"


def _mark(ours: float, theirs: float) -> str:
    return "=" if math.isclose(ours, theirs, rel_tol=1e-9) else "DIFFERS"


def render(model_path: str, model: ModelConfig, optimizer: OptimizerConfig, lr_source: str) -> str:
    """The text report: the seven hyperparameters (set, in effect, Table 4, release), then every group."""
    e = effective(model, optimizer)
    released = e["released"]
    at_table_4 = (model.dim, model.n_layers) == tuple(TABLE_4_MODEL.values()) and e["width_mult"] == 16
    lines = [f"{model_path}: dim {model.dim:,}, base_dim {model.base_dim}, width multiplier {_num(e['width_mult'])} "
             f"({e['width_mult_from']}); learning rates from {lr_source}", ""]
    head = ("hyperparameter", "config field", "set (base width)", "in effect here", "Table 4 (52B)",
            f"released config.json ({released['name']})" if released else "released config.json")
    rows = []
    for name in SEARCHED:
        table = _num(TABLE_4[name]) + (f" {_mark(e[name], TABLE_4[name])}" if at_table_4 else "")
        release = "-"
        if released and name in ("input_mult", "output_mult"):
            release = f"{name} {_num(released[name])} {_mark(e['base'][name], released[name])}"
        rows.append((name, f"{SECTION[name]}.{name}", _num(e["base"][name]), _num(e[name]), table, release))
    release = "-"
    if released:
        release = f"mup_scale_factor {_num(released['mup_scale_factor'])} {_mark(e['width_mult'], released['mup_scale_factor'])}"
    set_to = _num(model.mup_scale_factor) if model.mup_scale_factor is not None else "(dim / base_dim)"
    rows.append(("width multiplier", "model.mup_scale_factor", set_to, _num(e["width_mult"]),
                 "16" if at_table_4 else "-", release))
    lines += _table(head, rows)
    lines += ["", f"every group decays to {_num(optimizer.min_lr_ratio)} of its peak (lr_min / lr_vector)", ""]
    head = ("group", "parameters", "peak LR", "min LR", "init std", "weight decay")
    rows = [(g["group"], g["parameters"], _num(g["lr"]), _num(g["lr_min"]),
             "1 (ones)" if g["init"] == "ones" else _num(g["init_std"]), _num(g["weight_decay"])) for g in e["groups"]]
    lines += _table(head, rows)
    return "\n".join(lines)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (head, *rows)]


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.hparams", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--model", help="model config (configs/model/*.yaml); default: the one --train names")
    p.add_argument("--train", help="run config (configs/train/*.yaml) whose optimizer gives the learning rates; "
                                   "default: the optimizer's defaults (Table 4's)")
    p.add_argument("--json", action="store_true", help="print one JSON object of the values in effect instead of tables")
    args = p.parse_args(argv)
    if args.model is None and args.train is None:
        p.error("give --model, --train or both")
    run_cfg = load_train_config(args.train) if args.train else None
    model_path = args.model or run_cfg.model
    model = load_model_config(model_path)
    optimizer = run_cfg.optimizer if run_cfg else OptimizerConfig()
    if args.json:
        print(json.dumps({"model": model_path, "train": args.train, **effective(model, optimizer)}, indent=1))
    else:
        print(render(model_path, model, optimizer, f"{args.train} (optimizer)" if args.train else "the optimizer defaults (Table 4's)"))
    return 0


main = main_of(run)


if __name__ == "__main__":
    raise SystemExit(main())
