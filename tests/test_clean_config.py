"""Config loading/validation of the cleaning stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from datapipe.clean import CleanConfig, Cleaner, ConfigError, load_clean_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YAML = REPO / "configs" / "clean.yaml"


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "clean.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_defaults_equal_the_shipped_yaml():
    loaded = load_clean_config(DEFAULT_YAML)
    assert loaded == CleanConfig()
    # field by field, so a mismatch names the key
    defaults = CleanConfig().model_dump()
    for key, value in loaded.model_dump().items():
        assert value == defaults[key], key


def test_yaml_sets_every_field_explicitly():
    """The YAML is the documentation of the defaults: it must not rely on implicit values."""
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    for name in CleanConfig.model_fields:
        assert name in raw, name
        sub = getattr(CleanConfig(), name)
        if isinstance(sub, BaseModel):
            missing = set(type(sub).model_fields) - set(raw[name])
            assert not missing, f"{name}: {sorted(missing)}"


def test_published_default_values():
    c = CleanConfig()
    assert c.refinedweb.max_removed_word_fraction == 0.05
    assert c.c4.min_words_per_line == 3 and c.c4.min_num_sentences == 5 and c.c4.max_word_length == 1000
    g = c.gopher_quality
    assert (g.min_words, g.max_words, g.min_mean_word_length, g.max_mean_word_length) == (50, 100_000, 3, 10)
    assert (g.max_symbol_word_ratio, g.max_bullet_lines_ratio, g.max_ellipsis_lines_ratio) == (0.1, 0.9, 0.3)
    assert (g.min_alpha_words_ratio, g.min_stop_words) == (0.8, 2)
    assert g.stop_words["en"] == ["the", "be", "to", "of", "and", "that", "have", "with"]
    r = c.gopher_repetition
    assert (r.max_dup_line_frac, r.max_dup_line_char_frac, r.max_dup_para_frac, r.max_dup_para_char_frac) == (
        0.3,
        0.2,
        0.3,
        0.2,
    )
    assert r.top_ngram_max_char_frac == {2: 0.2, 3: 0.18, 4: 0.16}
    assert r.dup_ngram_max_char_frac == {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1}
    f = c.fineweb
    assert (f.min_line_punct_ratio, f.max_dup_line_char_ratio, f.max_short_line_ratio) == (0.12, 0.1, 0.67)
    assert (f.short_line_length, f.max_newline_word_ratio) == (30, 0.3)
    assert (c.unspaced.min_chars, c.unspaced.min_script_ratio, c.unspaced.min_mean_line_length) == (200, 0.3, 10)


def test_none_path_gives_defaults():
    assert load_clean_config(None) == CleanConfig()


def test_partial_yaml_overrides_only_given_keys(tmp_path):
    cfg = load_clean_config(_write(tmp_path, {"gopher_quality": {"min_words": 10}, "c4": {"enabled": False}}))
    assert cfg.gopher_quality.min_words == 10
    assert cfg.gopher_quality.max_words == 100_000
    assert cfg.c4.enabled is False
    assert cfg.fineweb == CleanConfig().fineweb


def test_null_disables_a_single_rule(tmp_path):
    cfg = load_clean_config(_write(tmp_path, "gopher_quality:\n  min_words: null\n"))
    assert cfg.gopher_quality.min_words is None
    out = Cleaner(cfg).clean("A short but fine sentence is here. " * 5, "en")
    assert out.reason != "gopher_quality:min_words"


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_clean_config(missing)
    assert str(missing) in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_unknown_top_level_key(tmp_path):
    path = _write(tmp_path, {"gopher_qualty": {"min_words": 10}})
    with pytest.raises(ConfigError) as exc:
        load_clean_config(path)
    msg = str(exc.value)
    assert str(path) in msg and "gopher_qualty" in msg


def test_unknown_nested_key(tmp_path):
    path = _write(tmp_path, {"fineweb": {"max_short_lines": 0.5}})
    with pytest.raises(ConfigError) as exc:
        load_clean_config(path)
    msg = str(exc.value)
    assert "fineweb.max_short_lines" in msg and "0.5" in msg


def test_bad_value_type(tmp_path):
    path = _write(tmp_path, {"gopher_quality": {"min_words": "fifty"}})
    with pytest.raises(ConfigError) as exc:
        load_clean_config(path)
    msg = str(exc.value)
    assert str(path) in msg and "gopher_quality.min_words" in msg and "'fifty'" in msg


@pytest.mark.parametrize(
    "data, key",
    [
        ({"fineweb": {"max_short_line_ratio": 1.5}}, "fineweb.max_short_line_ratio"),
        ({"refinedweb": {"max_removed_word_fraction": -0.1}}, "refinedweb.max_removed_word_fraction"),
        ({"c4": {"min_words_per_line": 0}}, "c4.min_words_per_line"),
        ({"gopher_repetition": {"dup_ngram_max_char_frac": {5: 2.0}}}, "gopher_repetition.dup_ngram_max_char_frac.5"),
        ({"gopher_repetition": {"top_ngram_max_char_frac": {0: 0.2}}}, "gopher_repetition.top_ngram_max_char_frac"),
        ({"gopher_repetition": {"measure_on": "before"}}, "gopher_repetition.measure_on"),
        ({"c4": {"too_long_word_action": "explode"}}, "c4.too_long_word_action"),
        ({"unspaced_languages": ["Chinese!"]}, "unspaced_languages.0"),
        ({"unspaced": {"terminal_punctuation": []}}, "unspaced.terminal_punctuation"),
    ],
)
def test_out_of_range_values(tmp_path, data, key):
    with pytest.raises(ConfigError) as exc:
        load_clean_config(_write(tmp_path, data))
    assert key in str(exc.value)


def test_inconsistent_range(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_clean_config(_write(tmp_path, {"gopher_quality": {"min_words": 500, "max_words": 100}}))
    assert "min_words (500) > max_words (100)" in str(exc.value)


def test_invalid_yaml_and_wrong_top_level_type(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_clean_config(_write(tmp_path, "c4: [unclosed"))
    with pytest.raises(ConfigError, match="mapping"):
        load_clean_config(_write(tmp_path, "- a\n- b\n"))


def test_empty_file_gives_defaults(tmp_path):
    assert load_clean_config(_write(tmp_path, "")) == CleanConfig()


def test_lists_are_normalised_to_lowercase():
    cfg = CleanConfig.model_validate(
        {
            "unspaced_languages": ["ZH"],
            "gopher_quality": {"stop_words": {"DE": ["Der", "Die"]}},
            "c4": {"policy_substrings": ["Privacy Policy"]},
        }
    )
    assert cfg.unspaced_languages == ["zh"]
    assert cfg.gopher_quality.stop_words == {"de": ["der", "die"]}
    assert cfg.c4.policy_substrings == ["privacy policy"]
