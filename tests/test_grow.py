"""Masked structural growth: each operator and all at once preserve the function at mask 0, and fold to a
plain model of the target config at mask 1."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import ROOT
from train.config import MODEL_CONFIG_DIR, load_model_config
from train.grow import MaskRamp, depth_plan, grow, layer_distances
from train.model import Transformer

TOL = 1e-5
TINY = load_model_config(MODEL_CONFIG_DIR / "tiny.yaml")  # dim 128, 2 layers, 4 heads of 32, ffn 336


def text_tokens(batch: int = 2, seq: int = 64) -> torch.Tensor:
    """Byte ids of the project's README (a real text; byte ids fit tiny's 512-token vocabulary)."""
    data = (ROOT / "README.md").read_bytes()[: batch * seq]
    assert len(data) == batch * seq
    return torch.tensor(list(data), dtype=torch.long).view(batch, seq)


def trained_like(config, seed: int = 1) -> Transformer:
    """An old model whose weights are not at init (norm gains != 1), so copied weights matter."""
    model = Transformer(config, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
    return model


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


GROWTHS = {
    "width_and_heads": dict(dim=192, n_heads=6),
    "ffn": dict(ffn_dim=504),
    "depth": dict(n_layers=4),
    "all": dict(dim=192, n_heads=6, ffn_dim=504, n_layers=4),
}


CASES = [(growth, "distance") for growth in GROWTHS] + [(g, r) for g in ("depth", "all") for r in ("uniform", "stack")]


@pytest.mark.parametrize("growth, rule", CASES)
def test_function_preserved_at_mask_0_and_folds_at_mask_1(growth, rule):
    old = trained_like(TINY)
    target = TINY.with_changes(**GROWTHS[growth])
    tokens = text_tokens()
    with torch.no_grad():
        old_logits = old(tokens)
        grown = grow(old, target, depth_rule=rule, calibration_tokens=tokens, seed=7)
        assert grown.mask_value == 0.0
        d0 = max_diff(grown(tokens), old_logits)
        assert d0 <= TOL, d0
        grown.set_mask(0.5)
        assert max_diff(grown(tokens), old_logits) > 1e-4  # the new structure now takes part
        grown.set_mask(1.0)
        masked = grown(tokens)
        plain = grown.fold()
        d1 = max_diff(plain(tokens), masked)
        assert d1 <= TOL, d1
    scratch = Transformer(target)
    assert type(plain) is Transformer and plain.config == target
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in scratch.state_dict().items()}
    print(f"{growth}/{rule}: mask 0 vs old {d0:.2e}, folded vs mask 1 {d1:.2e}")


def test_new_weights_are_drawn_and_do_not_matter_at_mask_0():
    old = trained_like(TINY)
    target = TINY.with_changes(**GROWTHS["all"])
    tokens = text_tokens()
    with torch.no_grad():
        grown = grow(old, target, calibration_tokens=tokens)
        ref = grown(tokens)
        params = dict(grown.model.named_parameters())
        layer0 = grown.old_layers[0]
        new_block = next(i for i in range(target.n_layers) if i not in grown.old_layers)
        new_parts = {
            "tok_embeddings.weight": (slice(None), slice(128, None)),
            "output.weight": (slice(None), slice(128, None)),
            f"layers.{layer0}.attention.wq.weight": (slice(128, None), slice(None)),  # new heads
            f"layers.{layer0}.attention.wv.weight": (slice(128, None), slice(None)),
            f"layers.{layer0}.attention.wo.weight": (slice(None), slice(128, None)),
            f"layers.{layer0}.feed_forward.w1.weight": (slice(336, None), slice(None)),  # new FFN units
            f"layers.{layer0}.feed_forward.w2.weight": (slice(None), slice(336, None)),
            f"layers.{new_block}.feed_forward.w2.weight": (slice(None), slice(None)),  # a new block
        }
        for name, index in new_parts.items():
            part = params[name][index]
            assert part.std() > 0, name  # real random init, not zeros
            part.add_(torch.randn_like(part))
        assert max_diff(grown(tokens), ref) <= TOL


def test_mup_logit_scale_changes_with_width():
    old = trained_like(TINY)
    target = TINY.with_changes(dim=256, n_heads=8)
    assert target.width_mult == 2 * TINY.width_mult  # dim / base_dim
    grown = grow(old, target)
    assert grown.model.logit_scale == pytest.approx(old.logit_scale / 2)
    torch.testing.assert_close(grown.model.output.weight[:, :128], 2 * old.output.weight)
    with torch.no_grad():
        assert max_diff(grown(text_tokens()), old(text_tokens())) <= TOL


def test_gqa_growth_keeps_groups_or_refuses():
    old_cfg = TINY.with_changes(n_kv_heads=2)
    old = trained_like(old_cfg)
    tokens = text_tokens()
    with torch.no_grad():
        grown = grow(old, old_cfg.with_changes(dim=256, n_heads=8, n_kv_heads=4))
        assert max_diff(grown(tokens), old(tokens)) <= TOL
    with pytest.raises(ValueError, match="query heads per key/value head"):
        grow(old, old_cfg.with_changes(dim=256, n_heads=8, n_kv_heads=2))


def test_growth_refuses_shrinking_and_other_changes():
    old = Transformer(TINY)
    with pytest.raises(ValueError, match="cannot shrink"):
        grow(old, TINY.with_changes(ffn_dim=256))
    with pytest.raises(ValueError, match="head_dim"):
        grow(old, TINY.with_changes(head_dim=64, n_heads=2))
    with pytest.raises(ValueError, match="calibration_tokens"):
        grow(old, TINY.with_changes(n_layers=3))
    grown = grow(old, TINY.with_changes(ffn_dim=400))
    with pytest.raises(ValueError, match="masks at 1"):
        grown.fold()
    with pytest.raises(ValueError, match="mask value"):
        grown.set_mask(1.5)


def test_mask_state_round_trips():
    old = Transformer(TINY)
    target = TINY.with_changes(ffn_dim=400, n_layers=3)
    grown = grow(old, target, depth_rule="uniform")
    grown.set_mask(0.25)
    resumed = grow(old, target, depth_rule="uniform")
    resumed.load_state_dict(grown.state_dict(), strict=True)
    assert resumed.mask_value == 0.25
    torch.testing.assert_close(resumed.ffn_mask, grown.ffn_mask)
    with torch.no_grad():
        assert max_diff(resumed(text_tokens()), grown(text_tokens())) == 0


def test_distance_placement_picks_the_layer_that_changes_most():
    config = TINY.with_changes(n_layers=3)
    model = Transformer(config)
    with torch.no_grad():
        for i in (0, 2):  # layers 0 and 2 become the identity: their branches write nothing
            model.layers[str(i)].attention.wo.weight.zero_()
            model.layers[str(i)].feed_forward.w2.weight.zero_()
    distances = layer_distances(model, text_tokens())
    assert distances[0] == pytest.approx(0, abs=1e-6) and distances[2] == pytest.approx(0, abs=1e-6)
    assert distances[1] > 1e-3
    assert depth_plan(3, 4, "distance", distances) == [0, 1, 3]  # the new block right after layer 1
    assert depth_plan(3, 5, "distance", [0.1, 0.9, 0.2]) == [0, 1, 4]  # 0.9/2 still beats 0.2
    assert depth_plan(3, 5, "distance", [0.1, 0.3, 0.2]) == [0, 1, 3]  # then 0.2 beats 0.3/2
    with torch.no_grad():
        grown = grow(model, config.with_changes(n_layers=4), calibration_tokens=text_tokens())
    assert grown.old_layers == [0, 1, 3]


def test_uniform_and_stack_plans():
    assert depth_plan(2, 4, "stack") == [0, 1]
    assert depth_plan(2, 4, "uniform") == [0, 2]
    assert depth_plan(2, 3, "uniform") == [0, 2]
    assert depth_plan(4, 6, "uniform") == [0, 2, 3, 5]  # one new block every two old layers
    assert depth_plan(4, 4, "uniform") == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="depth rule"):
        depth_plan(2, 3, "random")


def test_mask_ramp():
    ramp = MaskRamp(steps=4, start=10)
    assert [ramp.value(s) for s in (0, 9, 10, 11, 12, 13, 14, 100)] == [0, 0, 0, 0.25, 0.5, 0.75, 1, 1]
    assert MaskRamp(steps=0, start=3).value(3) == 1.0 and MaskRamp(steps=0, start=3).value(2) == 0.0
    with pytest.raises(ValueError):
        MaskRamp(steps=-1)
