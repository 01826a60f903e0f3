"""Instruction data (datapipe/instruct): the conversation format and its errors, the converters from Alpaca
and the bilingual scored format (on the real files), and the selection's steps and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapipe.instruct.conversation import (
    Conversation,
    ConversationError,
    Message,
    from_alpaca,
    from_bilingual,
    read_jsonl,
    validate,
    write_jsonl,
)
from datapipe.instruct.select import SelectConfig, Selector, instruction_type, read_inputs, report, run
from tests.conftest import ROOT

INSTRUCT = ROOT.parent / "shared" / "data" / "instruct"


def conv(cid: str, *turns: tuple[str, str], lang: str = "en", **meta) -> Conversation:
    return Conversation(cid, tuple(Message(r, c) for r, c in turns), lang, "test", meta)


@pytest.mark.parametrize("turns, error", [
    ((), "no user or assistant turn"),
    ((("user", "hi"), ("assistant", " ")), "message 1 \\(assistant\\) is empty"),
    ((("assistant", "hi"),), "message 0 is 'assistant' where 'user' belongs"),
    ((("user", "a"), ("user", "b")), "message 1 is 'user' where 'assistant' belongs"),
    ((("user", "a"), ("assistant", "b"), ("user", "c")), "ends with a user turn"),
    ((("system", "s"), ("user", "a"), ("system", "b")), "message 2 is 'system' where 'assistant' belongs"),
    ((("user", "a"), ("bot", "b")), "message 1 has role 'bot'"),
    ((("user", "a" * 50), ("assistant", "b" * 60)), "110 characters, more than 100"),
])
def test_validation_errors_name_the_conversation_and_turn(turns, error):
    with pytest.raises(ConversationError, match=f"^c1: {error}"):
        validate(conv("c1", *turns), max_chars=100)


def test_valid_multi_turn_with_system_round_trips(tmp_path):
    c = conv("c1", ("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "2+2?"), ("assistant", "4"))
    validate(c, max_chars=100)
    assert write_jsonl([c], tmp_path / "c.jsonl") == 1
    (back,) = read_jsonl(tmp_path / "c.jsonl")
    assert back == c and back.prompt == "Hi\n2+2?"
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "messages": "no"}\n')
    with pytest.raises(ConversationError, match="bad.jsonl:1: not a conversation"):
        list(read_jsonl(tmp_path / "bad.jsonl"))


@pytest.mark.skipif(not INSTRUCT.is_dir(), reason="../shared/data/instruct is not there")
def test_converters_on_the_real_files():
    alpaca = list(from_alpaca(INSTRUCT / "en" / "alpaca_data.json.gz", "en"))
    assert len(alpaca) == 52_002
    first = alpaca[0]
    assert first.messages[0] == Message("user", "Give three tips for staying healthy.") and first.messages[1].role == "assistant"
    with_input = next(c for c in alpaca if "\n\n" in c.messages[0].content)
    validate(with_input)
    bilingual = list(from_bilingual(INSTRUCT / "zh" / "alpaca-chinese-52k-v3.json.gz"))
    assert len(bilingual) == 2 * 52_002
    en, zh = bilingual[0], bilingual[1]
    assert (en.lang, zh.lang) == ("en", "zh") and en.meta["pair"] == zh.meta["pair"]
    assert en.messages == alpaca[0].messages  # the bilingual file's English side is Alpaca's text
    assert zh.meta["translation_score"] in (1, 2, 3, 4, 5, None) and en.meta["translation_score"] is None


def test_selection_steps_and_report():
    pairs = [("en", "Name three colours of the rainbow.", "Red, orange and yellow."),
             ("zh", "说出彩虹的三种颜色。", "红色、橙色和黄色。")]
    inputs = [conv(f"p{i}:{lang}", ("user", q), ("assistant", a), lang=lang, pair="p0",
                   translation_score=5 if lang == "zh" else None) for i, (lang, q, a) in enumerate(pairs)]
    inputs += [
        conv("dup", ("user", "Name three colours of the rainbow!"), ("assistant", "red, orange and yellow")),  # exact
        conv("empty", ("user", "Say nothing."), ("assistant", "")),
        conv("placeholder", ("user", "Design a logo."), ("assistant", "<nooutput>")),
        conv("low", ("user", "翻译得很差的问题"), ("assistant", "一个回答"), lang="zh", translation_score=2),
        conv("near", ("user", "Please name three colours of the rainbow."), ("assistant", "Green, blue, violet.")),
        *[conv(f"e{i}", ("user", prompt), ("assistant", f"Answer {i}.")) for i, prompt in enumerate([
            "Write a poem about the sea.", "Write a short story about a dragon and a knight.",
            "Write an email to my landlord about the broken heater.", "Explain how photosynthesis works in plants.",
            "List the planets of the solar system in order."])],
    ]
    config = SelectConfig(target=4, languages={"en": 0.5, "zh": 0.5}, decontaminate=None, near_duplicate_threshold=0.5)
    sel = Selector(config).run(inputs)
    assert sel.dropped["duplicate:exact"] == 1 and sel.dropped["invalid:malformed"] == 1
    assert sel.dropped["invalid:placeholder"] == 1 and sel.dropped["quality:translation_score"] == 1
    assert sel.dropped["duplicate:near"] == 1  # "Please name three colours..." is the same prompt, worse
    assert sel.dropped["duplicate:translation"] == 1  # one copy of the pair: the language below its share
    selected = {c.id for c in sel.selected}
    assert len(selected) == 3 and ("p0:en" in selected) != ("p1:zh" in selected)
    # diversity: with 2 English places left after the pair, two different instruction types, not two "write"s
    english = [c for c in sel.selected if c.lang == "en" and c.id.startswith("e")]
    assert len({instruction_type(c) for c in english}) == len(english)
    r = report(sel, config)
    assert r["input_total"] == len(inputs) and r["selected"] == len(selected)
    assert sum(r["dropped"].values()) + r["selected"] == len(inputs)


@pytest.mark.skipif(not INSTRUCT.is_dir(), reason="../shared/data/instruct is not there")
def test_select_command_on_one_real_file(tmp_path, capsys):
    source = INSTRUCT / "zh" / "zh-data-part-00.json"
    assert run(["--input", str(source), "--output", str(tmp_path / "out"), "--target", "500"]) == 0
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert r["input_total"] == 10_021 and r["selected"] == 350  # zh: 70% of 500
    assert sum(r["dropped"].values()) + r["selected"] == r["input_total"]
    lines = (tmp_path / "out" / "conversations.jsonl").read_text().splitlines()
    assert len(lines) == 350 and all(json.loads(line)["lang"] == "zh" for line in lines)
    assert "dropped because" in capsys.readouterr().out
    assert read_inputs(Path(source))[0].lang == "zh"
