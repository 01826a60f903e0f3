"""Masked structural growth: each operator and all at once preserve the function at mask 0, and fold to a
plain model of the target config at mask 1."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import ROOT
from train import mup
from train.config import MODEL_CONFIG_DIR, OptimizerConfig, load_model_config
from train.grow import Growth, MaskRamp, depth_plan, grow, grow_optimizer, grown_name, head_scale, layer_distances, set_masks
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
    return float((a - b).detach().abs().max())


GROWTHS = {
    "width_and_heads": dict(dim=192, n_heads=6),
    "ffn": dict(ffn_dim=504),
    "depth": dict(n_layers=4),
    "all": dict(dim=192, n_heads=6, ffn_dim=504, n_layers=4),
    # as 102B -> 1T: the released 1T changes output_mult (0.5 -> 2.0) with the width multiplier (20 -> 80)
    "width_and_output_mult": dict(dim=192, n_heads=6, output_mult=4.0),
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


def test_masks_are_not_weights_and_the_growth_record_round_trips():
    """A grown model's state dict is the plain target model's; the masks come back from the growth record
    (what a checkpoint keeps) at the ramp's value."""
    old = Transformer(TINY)
    target = TINY.with_changes(dim=192, n_heads=6, ffn_dim=400, n_layers=3)
    grown = grow(old, target, depth_rule="uniform")
    grown.set_mask(0.25)
    assert grown.model.state_dict().keys() == Transformer(target).state_dict().keys()
    growth = Growth.from_json(json.loads(json.dumps(grown.growth.to_json())))
    assert growth == grown.growth
    resumed = Transformer(target)
    resumed.load_state_dict(grown.model.state_dict(), strict=True)
    set_masks([resumed], growth, 0.25)
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


# --- the optimizer across growth (grow_optimizer) ---------------------------------------------------------

OPT = OptimizerConfig(lr_vector=1e-3, lr_matrix=4e-3, weight_decay=0.0)
SCHEDULE_FACTOR = 0.7  # the schedule's factor at the growth step (Trainer.set_lr sets lr = peak_lr x factor)


def loss_of(model, tokens: torch.Tensor) -> torch.Tensor:
    logits = model(tokens[:, :-1])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())


def adam_step(model, optimizer, tokens: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss_of(model, tokens).backward()
    optimizer.step()


def trained_with_optimizer(config, opt: OptimizerConfig = OPT, steps: int = 2):
    """An old model and its muP AdamW after a few steps (non-zero moments, step 2), at the schedule factor."""
    model = trained_like(config)
    optimizer = mup.build_optimizer(model, config, opt.lr_vector, opt.lr_matrix, betas=opt.betas, eps=opt.eps,
                                    weight_decay=opt.weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * SCHEDULE_FACTOR
    tokens = text_tokens(2, 65)
    for _ in range(steps):
        adam_step(model, optimizer, tokens)
    return model, optimizer


def snapshot(optimizer, model) -> dict:
    return {name: {k: v.clone() for k, v in optimizer.state[p].items()} for name, p in model.named_parameters()}


@pytest.mark.parametrize("growth", list(GROWTHS))
def test_optimizer_state_is_copied_for_old_entries_and_zero_for_new(growth):
    old, old_opt = trained_with_optimizer(TINY)
    before = snapshot(old_opt, old)
    target = TINY.with_changes(**GROWTHS[growth])
    grown = grow(old, target, calibration_tokens=text_tokens(), seed=7)
    opt = grow_optimizer(old, old_opt, grown, OPT)
    assert all(max_diff(v, before[n][k]) == 0 for n, s in snapshot(old_opt, old).items() for k, v in s.items())
    s = head_scale(TINY, target)
    new_params = dict(grown.model.named_parameters())
    old_names = set()
    for name, param in old.named_parameters():
        new_name = grown_name(name, grown.old_layers)
        old_names.add(new_name)
        state = opt.state[new_params[new_name]]
        assert float(state["step"]) == 2
        block = tuple(slice(0, n) for n in param.shape)
        for key, power in (("exp_avg", 1), ("exp_avg_sq", 2)):
            expected = before[name][key] / s**power if name == "output.weight" else before[name][key]
            assert torch.equal(state[key][block], expected), (name, key)  # exact: the very values (scaled for the head)
            rest = state[key].clone()
            rest[block] = 0
            assert torch.count_nonzero(rest) == 0, (name, key)
            assert before[name][key].abs().max() > 0
    new_layer_params = [n for n in new_params if n not in old_names]
    assert bool(new_layer_params) == (target.n_layers > TINY.n_layers)
    for name in new_layer_params:
        state = opt.state[new_params[name]]
        assert float(state["step"]) == 2 and not state["exp_avg"].any() and not state["exp_avg_sq"].any()


@pytest.mark.parametrize("growth", ["width_and_heads", "all"])
def test_grown_optimizer_groups_and_learning_rates_follow_the_new_width(growth):
    old, old_opt = trained_with_optimizer(TINY)
    target = TINY.with_changes(**GROWTHS[growth])
    grown = grow(old, target, calibration_tokens=text_tokens())
    opt = grow_optimizer(old, old_opt, grown, OPT)
    expected = mup.param_groups(grown.model, target, OPT.lr_vector, OPT.lr_matrix, OPT.weight_decay)
    assert len(opt.param_groups) == len(expected)
    for group, ref in zip(opt.param_groups, expected):
        assert group["name"] == ref["name"] and group["peak_lr"] == ref["peak_lr"]
        assert group["weight_decay"] == ref["weight_decay"]
        assert [id(p) for p in group["params"]] == [id(p) for p in ref["params"]]
        assert group["lr"] == pytest.approx(group["peak_lr"] * SCHEDULE_FACTOR)  # the schedule goes on, no re-warmup
        assert group["betas"] == OPT.betas and group["eps"] == OPT.eps
    old_peaks = {g["name"]: g["peak_lr"] for g in old_opt.param_groups}
    new_peaks = {g["name"]: g["peak_lr"] for g in opt.param_groups}
    assert new_peaks["matrix"] == pytest.approx(old_peaks["matrix"] * TINY.width_mult / target.width_mult)  # 1.5 x wider
    assert all(new_peaks[k] == old_peaks[k] for k in ("embedding", "readout", "norm"))
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(grown.model.parameters()))


def test_head_gradient_scales_by_one_over_s():
    old = trained_like(TINY)
    target = TINY.with_changes(dim=256, n_heads=8)
    grown = grow(old, target)
    s = head_scale(TINY, target)
    assert s == 2
    tokens = text_tokens(2, 65)
    loss_of(old, tokens).backward()
    loss_of(grown, tokens).backward()
    g_old, g_new = old.output.weight.grad, grown.model.output.weight.grad
    d = max_diff(g_new[:, :128] * s, g_old)
    assert d <= 1e-6 * float(g_old.abs().max()), d
    assert not g_new[:, 128:].any()  # new input dims are 0 at mask 0


def step_both(growth: dict, same_lr_as_old: bool, opt: OptimizerConfig = OPT):
    """One AdamW step on the old model and one on the grown one (mask 0) from the same state, same batch."""
    old, old_opt = trained_with_optimizer(TINY, opt)
    target = TINY.with_changes(**growth)
    grown = grow(old, target, depth_rule="uniform", seed=7)
    new_opt = grow_optimizer(old, old_opt, grown, opt)
    s = head_scale(TINY, target)
    if same_lr_as_old:  # undo the muP width rule so that the step is the old one in function space
        for group in new_opt.param_groups:
            if group["name"] == "matrix":
                group["lr"] *= s
            if group["name"] == "readout":
                group["lr"], group["eps"] = group["lr"] * s, group["eps"] * s
    before = {n: p.detach().clone() for n, p in grown.model.named_parameters()}
    old_before = {n: p.detach().clone() for n, p in old.named_parameters()}
    tokens = text_tokens(2, 65).flip(1)  # another batch
    adam_step(old, old_opt, tokens)
    adam_step(grown, new_opt, tokens)
    return old, grown, new_opt, before, s, old_before


def check_old_entries_moved_as_old(old, grown, new_opt, before, s) -> float:
    new_params = dict(grown.model.named_parameters())
    decay = {id(p): 1 - g["lr"] * g["weight_decay"] for g in new_opt.param_groups for p in g["params"]}
    worst = 0.0
    for name, param in old.named_parameters():
        new_param = new_params[grown_name(name, grown.old_layers)]
        block = tuple(slice(0, n) for n in param.shape)
        expected = param * s if name == "output.weight" else param
        worst = max(worst, max_diff(new_param[block], expected))
        rest, was = new_param.detach().clone(), before[grown_name(name, grown.old_layers)].clone()
        rest[block], was[block] = 0, 0
        # new entries: zero gradient and moments, so only the decoupled weight decay moves them
        torch.testing.assert_close(rest, was * decay[id(new_param)], rtol=1e-6, atol=0)
    return worst


def moved_as_old(old, grown, new_opt, before, s) -> tuple[float, float]:
    """After one step of each: the largest difference of the grown old entries from the old model's step
    (at most 1e-6) and of the logits (at most TOL)."""
    worst = check_old_entries_moved_as_old(old, grown, new_opt, before, s)
    assert worst <= 1e-6, worst
    tokens = text_tokens()
    with torch.no_grad():
        d = max_diff(grown(tokens), old(tokens))
    assert d <= TOL, d
    return worst, d


@pytest.mark.parametrize("growth", ["ffn", "depth"])
def test_one_step_after_growth_is_the_old_step_at_mask_0(growth):
    """Width unchanged: same LRs, so one step of the grown model at mask 0 is one step of the old model."""
    decayed = OptimizerConfig(lr_vector=1e-3, lr_matrix=4e-3, weight_decay=0.1)
    old, grown, new_opt, before, s, old_before = step_both(GROWTHS[growth], same_lr_as_old=False, opt=decayed)
    assert s == 1
    worst, d = moved_as_old(old, grown, new_opt, before, s)
    print(f"{growth}: old entries vs old step {worst:.2e}, logits {d:.2e}")


def test_widened_step_matches_the_old_one_when_the_width_rule_is_undone():
    """Widening 2x: with the matrix LR and the head's LR and eps multiplied back by s, the grown step at mask 0
    is the old step exactly (head weight s times the old one), which checks the head moments' 1/s and 1/s^2;
    with the muP LRs the matrices' step is 1/s of the old one instead."""
    growth = dict(dim=256, n_heads=8)
    old, grown, new_opt, before, s, old_before = step_both(growth, same_lr_as_old=True)
    worst, d = moved_as_old(old, grown, new_opt, before, s)
    print(f"width x2, width rule undone: old entries vs old step {worst:.2e}, logits {d:.2e}")
    old, grown, new_opt, before, s, old_before = step_both(growth, same_lr_as_old=False)  # the muP rule: matrices move 1/s as far
    name = "layers.0.feed_forward.w1.weight"
    moved_old = old.get_parameter(name) - old_before[name]
    moved_new = (grown.model.get_parameter(name) - before[name])[:336, :128]
    torch.testing.assert_close(moved_new, moved_old / s, rtol=1e-4, atol=1e-8)  # float rounding of w + dw


def test_grow_optimizer_without_state_and_mismatch():
    old = Transformer(TINY)
    fresh = mup.build_optimizer(old, TINY, OPT.lr_vector, OPT.lr_matrix)
    grown = grow(old, TINY.with_changes(ffn_dim=400))
    assert not grow_optimizer(old, fresh, grown, OPT).state
    other = Transformer(TINY.with_changes(ffn_dim=400))
    with pytest.raises(ValueError, match="old_config"):
        grow_optimizer(other, fresh, grown, OPT)
