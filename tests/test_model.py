"""The Tele-FLM model, its muP parametrisation, configs, parameter counts and coordinate check."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import pytest
import torch

from datapipe.config import ConfigError
from tests.conftest import ROOT
from train import coord_check, mup, params
from train.config import MODEL_CONFIG_DIR, ModelConfig, load_model_config
from train.model import Transformer, cross_entropy_loss

CONFIG_NAMES = sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.yaml"))


def tiny(**changes) -> ModelConfig:
    config = load_model_config(MODEL_CONFIG_DIR / "tiny.yaml")
    return config.with_changes(**changes) if changes else config


def tokens(config: ModelConfig, batch: int = 2, seq: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(seed))


# --- configs ----------------------------------------------------------------------------------------


def test_every_config_loads():
    assert {"tiny", "proxy", "52b", "102b", "1t"} <= set(CONFIG_NAMES)
    for name in CONFIG_NAMES:
        assert load_model_config(MODEL_CONFIG_DIR / f"{name}.yaml").vocab_size > 0


def test_released_shapes_and_width_multipliers():
    c52, c1t, proxy = (load_model_config(MODEL_CONFIG_DIR / f"{n}.yaml") for n in ("52b", "1t", "proxy"))
    assert (c52.n_layers, c52.dim, c52.n_heads, c52.ffn_dim, c52.embedding_rows) == (64, 8192, 64, 21824, 80_384)
    assert (c1t.n_layers, c1t.dim, c1t.n_heads, c1t.ffn_dim, c1t.embedding_rows) == (140, 20480, 160, 98304, 81_920)
    assert (proxy.n_layers, proxy.dim, proxy.n_heads, proxy.head_dim, proxy.ffn_dim) == (64, 512, 4, 128, 1344)
    assert (proxy.width_mult, c52.width_mult) == (1.0, 16.0)  # dim / base_dim
    assert c1t.width_mult == 80.0 and c1t.with_changes(mup_scale_factor=None).width_mult == 40.0  # the release's, set
    # the released paddings are 80,000 rounded up to a multiple of 512 and of 2,048
    assert c52.with_changes(padded_vocab_size=None, pad_vocab_to_multiple_of=512).embedding_rows == 80_384
    assert c1t.with_changes(padded_vocab_size=None, pad_vocab_to_multiple_of=2048).embedding_rows == 81_920


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("n_heads: 3\n", "n_heads x head_dim must equal dim"),
        ("n_kv_heads: 3\n", "multiple of n_kv_heads"),
        ("pad_vocab_to_multiple_of: 64\npadded_vocab_size: 1024\n", "not both"),
        ("padded_vocab_size: 100\n", "smaller than vocab_size"),
        ("base_dim: null\n", "use_mup needs base_dim"),
        ("use_mup: false\nmup_scale_factor: 2.0\n", "mup_scale_factor is set but use_mup is false"),
        ("mup_scale_factor: 0\n", "mup_scale_factor"),
        ("dim: -8\n", "dim"),
        ("n_layer: 2\n", "n_layer"),
    ],
)
def test_config_errors_are_reported(tmp_path, yaml_text, key):
    base = (MODEL_CONFIG_DIR / "tiny.yaml").read_text()
    override = dict(line.split(": ", 1) for line in yaml_text.strip().splitlines())
    lines = [line for line in base.splitlines() if line.split(":")[0] not in override]
    path = tmp_path / "model.yaml"
    path.write_text("\n".join(lines) + "\n" + yaml_text)
    with pytest.raises(ConfigError, match="invalid config") as err:
        load_model_config(path)
    assert key in str(err.value)


def test_vocab_override_from_a_tokenizer_is_validated():
    assert tiny().with_vocab_size(300).embedding_rows == 300
    assert tiny(pad_vocab_to_multiple_of=128).with_vocab_size(300).embedding_rows == 384
    with pytest.raises(ValueError, match="smaller than vocab_size"):
        tiny(padded_vocab_size=512).with_vocab_size(1000)


# --- parameter counts -------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{}, {"n_kv_heads": 2}, {"pad_vocab_to_multiple_of": 384}, {"use_mup": False}])
def test_analytic_count_equals_numel_of_tiny(changes):
    config = tiny(**changes)
    assert params.count_parameters(config).total == sum(p.numel() for p in Transformer(config).parameters())


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_analytic_count_equals_numel_on_meta(name):
    config = load_model_config(MODEL_CONFIG_DIR / f"{name}.yaml")
    with torch.device("meta"):
        model = Transformer(config)
    assert params.count_parameters(config).total == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, rows",
    [("proxy", 81_920), ("52b", 81_920), ("1t", 80_000)],  # the rows that reproduce each printed figure
)
def test_report_figures_are_reproduced(name, rows):
    config = load_model_config(MODEL_CONFIG_DIR / f"{name}.yaml").with_changes(padded_vocab_size=rows)
    figure = params.Figure(params.REPORTED[name])
    assert figure.render(params.count_parameters(config).total) == figure.text


def test_report_figures_within_explained_tolerance():
    """Every config as it stands (released or inferred padding) is within 0.07% of its figure, 102B included,
    the one figure that no padding reproduces at its printed precision."""
    for name, text in params.REPORTED.items():
        count = params.count_parameters(load_model_config(MODEL_CONFIG_DIR / f"{name}.yaml")).total
        assert abs(count / params.Figure(text).value - 1) < 0.0007, name
    table = params.count_table({n: load_model_config(MODEL_CONFIG_DIR / f"{n}.yaml") for n in params.REPORTED})
    assert {row["config"] for row in table if row["reproduces"] == "yes"} == {"proxy", "52b", "1t"}


def test_figure_parsing():
    figure = params.Figure("1,083.74B")
    assert (figure.value, figure.decimals, figure.unit) == (1083.74e9, 2, "B")
    assert figure.render(1_083_735_265_280) == "1,083.74B" and not figure.matches(1_083_813_908_480)


def test_params_cli_writes_tables(tmp_path):
    out = tmp_path / "params"
    assert params.main(["--out", str(out)]) == 0
    assert "| 52b |" in (out / "params.md").read_text()
    assert (out / "params.csv").read_text().startswith("config,")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("module", ["train.params", "train.coord_check"])
def test_cli_help_and_bad_config(module, tmp_path):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "usage:" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("dim: 64\nn_layers: 1\nn_heads: 3\nhead_dim: 32\nffn_dim: 64\nbase_dim: 64\n")
    proc = subprocess.run([sys.executable, "-m", module, "--config", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "n_heads x head_dim" in proc.stderr and "Traceback" not in proc.stderr


# --- muP --------------------------------------------------------------------------------------------


def test_embedding_output_is_scaled_by_input_mult():
    seen = []
    model = Transformer(tiny())
    model.layers["0"].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    x = tokens(model.config)
    model(x)
    model.input_mult = 2.5
    model(x)
    torch.testing.assert_close(seen[0], model.tok_embeddings(x))
    torch.testing.assert_close(seen[1], 2.5 * seen[0])


def test_logits_are_scaled_by_output_mult_over_width_mult():
    x = tokens(tiny())
    reference = Transformer(tiny(base_dim=128, output_mult=1.0))  # width multiplier 1
    scaled = Transformer(tiny(base_dim=32, output_mult=3.0))  # width multiplier 4
    scaled.load_state_dict(reference.state_dict())
    assert scaled.logit_scale == pytest.approx(3.0 / 4)
    torch.testing.assert_close(scaled(x), reference(x) * 0.75)
    standard = Transformer(tiny(use_mup=False, input_mult=2.0, output_mult=3.0))  # multipliers are muP only
    standard.load_state_dict(reference.state_dict())
    torch.testing.assert_close(standard(x), reference(x))
    released = Transformer(tiny(base_dim=128, mup_scale_factor=8.0, output_mult=2.0))  # a set multiplier: 1T's way
    assert released.logit_scale == 0.25


def test_param_groups_scale_matrix_lr_and_decay_by_width():
    config = tiny(dim=256, n_heads=8, ffn_dim=672, base_dim=64)  # width multiplier 4
    model = Transformer(config)
    groups = {g["name"]: g for g in mup.param_groups(model, config, lr_vector=1e-2, lr_matrix=3e-2, weight_decay=0.1)}
    assert set(groups) == {"embedding", "readout", "norm", "matrix"}
    assert groups["matrix"]["lr"] == groups["matrix"]["peak_lr"] == pytest.approx(7.5e-3)  # lr_matrix / 4
    assert groups["matrix"]["weight_decay"] == pytest.approx(0.4)
    for name in ("embedding", "readout", "norm"):
        assert groups[name]["lr"] == groups[name]["peak_lr"] == pytest.approx(1e-2)
    assert groups["embedding"]["weight_decay"] == groups["readout"]["weight_decay"] == 0.1
    assert groups["norm"]["weight_decay"] == 0.0
    assert len(groups["matrix"]["params"]) == 7 * config.n_layers and len(groups["norm"]["params"]) == 2 * 2 + 1
    grouped = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    optimizer = mup.build_optimizer(model, config, lr_vector=1e-2, lr_matrix=1e-2)
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx([2.5e-3, 1e-2, 1e-2, 1e-2])
    assert all(g["weight_decay"] == 0.0 for g in optimizer.param_groups)
    standard = tiny(dim=256, n_heads=8, ffn_dim=672, use_mup=False)
    assert {g["lr"] for g in mup.param_groups(Transformer(standard), standard, lr_vector=1e-2, lr_matrix=2e-2)} == {1e-2, 2e-2}
    released = config.with_changes(mup_scale_factor=8.0)  # a set width multiplier wins over dim / base_dim
    assert {g["name"]: g["lr"] for g in mup.param_groups(model, released, 1e-2, 1e-2)}["matrix"] == pytest.approx(1.25e-3)


def test_init_stds_by_role():
    config = tiny(dim=256, n_heads=8, ffn_dim=672, n_layers=2, base_dim=64, std_vector=0.05, std_matrix=0.04)
    model = Transformer(config)
    matrix_std = 0.04 / math.sqrt(4)
    expected = {
        "tok_embeddings.weight": 0.05,
        "output.weight": 0.05,
        "layers.0.attention.wq.weight": matrix_std,
        "layers.1.feed_forward.w1.weight": matrix_std,
        "layers.0.attention.wo.weight": matrix_std / math.sqrt(2 * 2),
        "layers.1.feed_forward.w2.weight": matrix_std / math.sqrt(2 * 2),
    }
    named = dict(model.named_parameters())
    for name, std in expected.items():
        assert named[name].std().item() == pytest.approx(std, rel=0.05), name
        assert named[name].abs().max().item() <= mup.TRUNCATE_AT_STD * std + 1e-7
    for name in ("norm.weight", "layers.0.attention_norm.weight", "layers.1.ffn_norm.weight"):
        assert torch.equal(named[name], torch.ones_like(named[name]))
    zero = Transformer(config.with_changes(readout_zero_init=True))
    assert not zero.output.weight.any()


def test_weights_are_a_function_of_the_seed_alone():
    """Not of the global random state; each weight from its own name, so no two weights share their draws."""
    config = tiny()
    torch.manual_seed(1)
    a = Transformer(config, seed=7)
    torch.manual_seed(2)
    torch.rand(10)
    b, c = Transformer(config, seed=7), Transformer(config, seed=8)
    drawn = [name for name, _ in a.named_parameters() if mup.role_of(name) is not mup.Role.NORM]
    for name, x in a.state_dict().items():
        assert torch.equal(x, b.state_dict()[name]), name
        assert (name not in drawn) == torch.equal(x, c.state_dict()[name]), name
    standardised = {name: (p / p.std()).flatten()[:64] for name, p in a.named_parameters() if name in drawn}
    for i, x in enumerate(drawn):
        for y in drawn[i + 1:]:
            assert not torch.allclose(standardised[x], standardised[y]), (x, y)


@pytest.mark.parametrize("name, shape", [("tok_embeddings.weight", (600, 256)), ("layers.1.feed_forward.w2.weight", (256, 672))])
@pytest.mark.parametrize("rows, cols", [((0, 600), (0, 672)), ((40, 301), (0, 672)), ((0, 256), (128, 384)),
                                        ((17, 18), (5, 77)), ((250, 256), (600, 672)), ((100, 100), (0, 128))])
def test_a_part_of_a_weight_is_drawn_alone_as_that_part_of_the_whole(name, shape, rows, cols):
    """Any block (a shard: rows, columns or both, aligned or not) equals the same block of the weight drawn
    whole, and draws only the INIT_BLOCK blocks it overlaps."""
    config = tiny(dim=256, n_heads=8, ffn_dim=672, vocab_size=600)
    (r0, r1), (c0, c1) = (min(rows[0], shape[0]), min(rows[1], shape[0])), (min(cols[0], shape[1]), min(cols[1], shape[1]))
    whole = torch.empty(shape)
    assert mup.init_parameter(name, whole, config, seed=3) == whole.numel()
    part = torch.full((r1 - r0, c1 - c0), float("nan"))
    drawn = mup.init_parameter(name, part, config, seed=3, shape=shape, offset=(r0, c0))
    assert torch.equal(part, whole[r0:r1, c0:c1])
    block_rows, block_cols = mup.INIT_BLOCK
    overlapped_rows = min(-(-r1 // block_rows) * block_rows, shape[0]) - r0 // block_rows * block_rows
    overlapped_cols = min(-(-c1 // block_cols) * block_cols, shape[1]) - c0 // block_cols * block_cols
    assert drawn == (overlapped_rows * overlapped_cols if part.numel() else 0)


def test_every_parameter_has_a_role():
    assert {mup.role_of(n) for n, _ in Transformer(tiny()).named_parameters()} == set(mup.Role)
    with pytest.raises(ValueError, match="no muP role"):
        mup.role_of("something.bias")


# --- the model --------------------------------------------------------------------------------------


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    config = tiny(dim=64, n_heads=2, ffn_dim=168, base_dim=64)
    model = Transformer(config)
    batch = tokens(config, batch=4, seq=33)
    optimizer = mup.build_optimizer(model, config, lr_vector=1e-2, lr_matrix=1e-2)
    for _ in range(150):
        loss = cross_entropy_loss(model(batch[:, :-1]), batch[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss.item() < 0.05, loss.item()


def test_attention_is_causal():
    model = Transformer(tiny()).eval()
    x = tokens(model.config, seq=24)
    changed = x.clone()
    changed[:, 12:] = (changed[:, 12:] + 1) % model.config.vocab_size
    with torch.no_grad():
        a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_pipeline_stages_compose_to_the_whole_model():
    model = Transformer(tiny(n_layers=4)).eval()
    first, last = copy.deepcopy(model), copy.deepcopy(model)
    for i in ("2", "3"):
        del first.layers[i]
    for i in ("0", "1"):
        del last.layers[i]
    first.norm = first.output = None
    last.tok_embeddings = None
    x = tokens(model.config)
    with torch.no_grad():
        hidden = first(x)
        assert hidden.shape == (*x.shape, model.config.dim)
        torch.testing.assert_close(last(hidden), model(x))


def test_attention_runs_on_a_tensor_parallel_shard_of_heads():
    """A shard keeps some heads' rows of wq/wk/wv and columns of wo; the shards' outputs sum to the whole."""
    config = tiny()
    model = Transformer(config)
    attention = model.layers["0"].attention
    x = torch.randn(2, 10, config.dim)
    cos, sin = model.rope_cos[:10], model.rope_sin[:10]
    half = config.dim // 2
    total = torch.zeros(2, 10, config.dim)
    for rows in (slice(0, half), slice(half, None)):
        shard = copy.deepcopy(attention)
        for proj in (shard.wq, shard.wk, shard.wv):
            proj.weight = torch.nn.Parameter(proj.weight[rows])
        shard.wo.weight = torch.nn.Parameter(shard.wo.weight[:, rows])
        total += shard(x, cos, sin)
    torch.testing.assert_close(total, attention(x, cos, sin), rtol=1e-4, atol=1e-5)


def test_grouped_query_attention():
    model = Transformer(tiny(n_kv_heads=2))
    assert model.layers["0"].attention.wk.weight.shape == (2 * 32, 128)
    assert model(tokens(model.config)).shape == (2, 16, model.config.vocab_size)


def test_meta_init_then_to_empty_then_init_weights_matches_direct_init():
    config = tiny()
    with torch.device("meta"):
        meta = Transformer(config)
    meta.to_empty(device="cpu")
    direct = Transformer(config)
    for model in (meta, direct):
        model.init_weights(seed=123)
    for (name, a), (_, b) in zip(meta.state_dict().items(), direct.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(meta.rope_cos, direct.rope_cos) and torch.equal(meta.rope_sin, direct.rope_sin)
    assert "rope_cos" not in meta.state_dict()
    x = tokens(config)
    torch.testing.assert_close(meta(x), direct(x))


def test_sequence_longer_than_max_seq_len_is_refused():
    model = Transformer(tiny(max_seq_len=8))
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros(1, 9, dtype=torch.long))


# --- coordinate check -------------------------------------------------------------------------------


def test_coord_check_separates_mup_from_standard_parametrisation(tmp_path):
    """Small widths are noisy for attention and FFN, so muP is held to half the gap to standard param."""
    settings = coord_check.Settings(widths=(32, 64, 128), steps=5, batch_size=4, seq_len=32, seeds=3)
    with_mup = coord_check.run(tiny(), settings, use_mup=True)
    standard = coord_check.run(tiny(), settings, use_mup=False)
    for layer_type in ("embedding", "final_hidden", "logits"):
        assert abs(with_mup.slope(layer_type)) <= settings.tolerance, layer_type
    for layer_type in ("attention", "ffn"):
        assert abs(with_mup.slope(layer_type)) < 0.5, layer_type
        assert standard.slope(layer_type) > 1.0, layer_type
    assert standard.slope("logits") > 0.5 and "logits" in standard.failures()
    assert with_mup.slope("logits", step=0) == pytest.approx(-0.5, abs=0.15)  # logits start at O(1/sqrt(width))
    # The report's verdict names the layer types past the tolerance (at these small widths FFN can be one).
    failures = with_mup.failures()
    assert set(failures) <= {"attention", "ffn"}
    assert coord_check.render_markdown(with_mup).rstrip().endswith("FAIL: " + ", ".join(failures) if failures else "PASS")
    assert coord_check.render_png(standard).startswith(b"\x89PNG")
