"""Bad configs: every command line rejects a fuzzed config before any work, naming the key.

Each trial takes a real config of one command line (a Spark stage, the chain, the tokenizer, the trainer,
...), breaks it in one of four ways and runs the command as a subprocess:

- ``wrong_type``: a string where a number is expected, a list where a mapping is, null for a required value;
- ``out_of_range``: a value just past a field's bound (negative sizes, probabilities above 1, zero where more
  than zero is required) or outside its choices;
- ``unknown_key``: a typo of an existing key, at the top level or nested;
- ``missing_file``: a path-valued setting pointing to nothing, a config file that does not exist, a YAML
  that does not parse.

The mutations come from the config's pydantic model (field names, annotations, constraints, and the values
the config gives: a string naming an existing file or directory is a path-valued setting), so new keys are
fuzzed as they appear. A trial survives when the command exits non-zero with a message naming the key (or
the config file, when the file itself is absent or broken) and no traceback, having started no Spark session
(no JVM: the trials' ``JAVA_HOME`` is a ``java`` that leaves a mark) and created no output. Nothing is at
stake but time, so ``lost`` is always 0.
"""

from __future__ import annotations

import copy
import importlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("wrong_type", "out_of_range", "unknown_key", "missing_file")
TIMEOUT_S = 180.0
"""Per command: a rejected config takes seconds; an accepted one runs (a Spark stage, a training) until this."""

DEMO = "out/demo"  # `make demo`'s outputs: inputs where a command needs some (it should fail before reading them)


@dataclass(frozen=True)
class Cli:
    """A command line and one config it reads: ``args`` with ``{config}`` (the fuzzed file) and ``{out}`` (a
    path that must not appear); ``overrides`` (dotted keys, ``{out}`` allowed) are set in the config before
    it is fuzzed (its outputs, a setting to fuzz that the real config leaves to an argument); ``tolerated``:
    path-valued keys whose absence the command allows by design (a missing block list is a warning unless
    ``strict``). ``host``: the config is not passed itself but named by key ``host[1]`` of the run config
    ``host[0]`` (the trainer's model config), with ``host_overrides`` set in that one."""

    name: str
    model: str
    config: str
    args: tuple[str, ...]
    overrides: dict = field(default_factory=dict)
    tolerated: tuple[str, ...] = ()
    host: tuple[str, str] | None = None
    host_overrides: dict = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.name.split(" ")[0]


def _stage(name: str, model: str, config: str, *inputs: str, extra: tuple[str, ...] = (), **kw) -> Cli:
    """A stage's command line: ``--input`` (when it takes one), ``--output``, ``--config`` and ``extra``."""
    args = ("--input", *inputs) if inputs else ()
    return Cli(name, model, config, (*args, "--output", "{out}", "--config", "{config}", *extra), **kw)


SAFETY_TOLERATED = ("root", "badwords.directory")
"""Block lists are read when they are there (``strict: false``): the demo runs without ../shared/data."""

CLIS: tuple[Cli, ...] = (
    _stage("jobs.extract", "datapipe.extract:ExtractConfig", "configs/extract.yaml", f"{DEMO}/sample/sample-0003.warc"),
    _stage("jobs.url_filter", "datapipe.safety.config:SafetyConfig", "configs/safety.yaml", f"{DEMO}/extracted",
           tolerated=SAFETY_TOLERATED),
    _stage("jobs.clean", "datapipe.clean:CleanConfig", "configs/clean.yaml", f"{DEMO}/url_filtered"),
    _stage("jobs.dedup_paragraphs", "datapipe.paragraphs:ParagraphDedupConfig", "configs/dedup_paragraphs.yaml", f"{DEMO}/cleaned"),
    _stage("jobs.safety", "datapipe.safety.config:SafetyConfig", "configs/safety.yaml", f"{DEMO}/dedup_paragraphs",
           tolerated=SAFETY_TOLERATED),
    _stage("jobs.ingest", "datapipe.domains:DomainsConfig", "configs/domains.yaml"),
    Cli("jobs.quality_model", "datapipe.quality.config:QualityConfig", "configs/demo/quality.yaml",
        ("--positives", f"{DEMO}/domains", "--negatives", f"{DEMO}/dedup_paragraphs", "--output", "{out}", "--config", "{config}")),
    _stage("jobs.sample", "datapipe.sample:SampleConfig", "configs/sample_quality.yaml", f"{DEMO}/safety_web"),
    Cli("jobs.sample --tokenizer-config", "tokenizer.config:TokenizerConfig", "configs/demo/tokenizer.yaml",
        ("--input", f"{DEMO}/decontaminated", "--output", "{out}", "--config", "configs/sample_tokenizer.yaml",
         "--tokenizer-config", "{config}")),
    _stage("jobs.quality", "datapipe.quality.config:QualityConfig", "configs/demo/quality.yaml", f"{DEMO}/safety_web",
           overrides={"score.model_dir": f"{DEMO}/quality_model"}),
    _stage("jobs.dedup_minhash", "datapipe.minhash:MinHashConfig", "configs/dedup_minhash.yaml", f"{DEMO}/quality"),
    _stage("jobs.decontaminate", "datapipe.decontam:DecontamConfig", "configs/demo/decontaminate.yaml", f"{DEMO}/dedup_minhash",
           overrides={"strict": True}),
    _stage("jobs.mix", "datapipe.mixture:MixConfig", "configs/mix.yaml", f"{DEMO}/decontaminated"),
    _stage("jobs.shards", "jobs.shards:TokenizeConfig", "configs/demo/tokenize.yaml", f"{DEMO}/mixture",
           extra=("--tokenizer", f"{DEMO}/tokenizer")),
    Cli("jobs.run_chain", "jobs.run_chain:PipelineConfig", "configs/demo/pipeline.yaml", ("--config", "{config}", "--until", "extract"),
        overrides={"out": "{out}"}),
    _stage("tokenizer.train", "tokenizer.config:TokenizerConfig", "configs/demo/tokenizer.yaml", f"{DEMO}/decontaminated"),
    Cli("tokenizer.train --weights", "datapipe.mixture:MixConfig", "configs/mix.yaml",
        ("--input", f"{DEMO}/decontaminated", "--output", "{out}", "--config", "configs/demo/tokenizer.yaml", "--weights", "{config}")),
    Cli("tokenizer.report", "tokenizer.report:ReportConfig", "configs/tokenizer_report.yaml",
        ("--tokenizer", f"{DEMO}/tokenizer", "--heldout", f"{DEMO}/tokenizer/heldout.jsonl", "--output", "{out}", "--config", "{config}"),
        tolerated=("reference_root", "eval_root")),
    Cli("train.pretrain", "train.config:TrainConfig", "configs/train/demo.yaml", ("--config", "{config}"), overrides={"out": "{out}"}),
    Cli("train.pretrain model", "train.config:ModelConfig", "configs/model/tiny.yaml", ("--config", "{config}"),
        host=("configs/train/demo.yaml", "model"), host_overrides={"out": "{out}"}),
    Cli("train.sft", "train.sft:SFTConfig", "configs/train/sft_demo.yaml", ("--config", "{config}"), overrides={"out": "{out}"}),
    Cli("train.evaluate", "train.config:ModelConfig", "configs/model/tiny.yaml",
        ("--checkpoint", f"{DEMO}/run", "--data", f"{DEMO}/shards", "--output", "{out}", "--model-config", "{config}")),
    Cli("train.export_hf", "train.config:ModelConfig", "configs/model/tiny.yaml",
        ("--checkpoint", f"{DEMO}/run", "--tokenizer", f"{DEMO}/tokenizer", "--output", "{out}", "--model-config", "{config}")),
    Cli("train.grow", "train.config:ModelConfig", "configs/model/tiny_wide.yaml",
        ("--checkpoint", f"{DEMO}/run", "--to", "{config}", "--output", "{out}")),
    Cli("train.hparams", "train.config:TrainConfig", "configs/train/demo.yaml", ("--train", "{config}"), tolerated=("data", "out")),
    Cli("train.params", "train.config:ModelConfig", "configs/model/tiny.yaml", ("--config", "{config}", "--out", "{out}")),
    Cli("train.coord_check", "train.config:ModelConfig", "configs/model/tiny.yaml", ("--config", "{config}", "--out", "{out}")),
    Cli("train.mup_search", "train.mup_search:SearchConfig", "configs/mup/search_cpu.yaml", ("--sweep", "{config}", "--out", "{out}")),
    Cli("train.mup_transfer", "train.mup_transfer:TransferConfig", "configs/mup/transfer_cpu.yaml",
        ("--sweep", "{config}", "--out", "{out}")),
    Cli("datapipe.instruct.select", "datapipe.instruct.select:SelectConfig", "configs/sft_select.yaml",
        ("--input", "../shared/data/instruct", "--output", "{out}", "--config", "{config}")),
)


# --- the settings of a config, from its model ------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One field of a config as the model sees it: its key path, type, bounds and the config's value."""

    key: tuple
    annotation: typing.Any
    metadata: tuple
    required: bool
    value: typing.Any
    siblings: frozenset[str]

    @property
    def dotted(self) -> str:
        return ".".join(str(k) for k in self.key)


def _model_class(path: str) -> type[BaseModel]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _unwrap(annotation) -> tuple[typing.Any, tuple, bool]:
    """The annotation without ``None`` and ``Annotated``: (type, its constraints, whether None is allowed)."""
    metadata, nullable = (), False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            metadata += tuple(annotation.__metadata__)
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, metadata, nullable
            annotation = args[0]
        else:
            return annotation, metadata, nullable


def settings(model: type[BaseModel], instance: BaseModel, key: tuple = ()) -> Iterator[Setting]:
    """Every field of ``instance`` and of the sections inside it (the first item of a list or mapping of
    sections), depth first."""
    names = frozenset(model.model_fields)
    for name, info in model.model_fields.items():
        value = getattr(instance, name)
        yield Setting(key + (name,), info.annotation, tuple(info.metadata), info.is_required(), value, names)
        inner = value
        if isinstance(value, list) and value:
            inner, at = value[0], 0
        elif isinstance(value, dict) and value:
            at, inner = next(iter(value.items()))
        else:
            at = None
        if isinstance(inner, BaseModel):
            yield from settings(type(inner), inner, key + ((name,) if at is None else (name, at)))


# --- mutations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """What a trial does to the config, and the text the command's message must hold: ``set`` is
    ``(key path, value)`` or a rename ``(key path, new name)``; ``file`` is ``"absent"`` (no config file) or
    ``"unparsable"`` (broken YAML)."""

    kind: str
    what: str
    expect: str
    set: tuple | None = None
    rename: tuple | None = None
    file: str | None = None


_MISSING = "_missing-by-chaos"
_BROKEN_YAML = "settings: [unclosed\n  key: {: :\n"


def _wrong_types(s: Setting) -> Iterator[tuple[str, typing.Any]]:
    t, _, nullable = _unwrap(s.annotation)
    origin = typing.get_origin(t) or t
    if t in (int, float):
        yield "a string for a number", "not-a-number"
    elif isinstance(origin, type) and (issubclass(origin, (BaseModel, dict))):
        yield "a list for a mapping", ["not", "a", "mapping"]
    elif origin in (list, tuple):
        yield "a string for a list", "not-a-list"
    elif t is bool:
        yield "a string for a bool", "perhaps"
    elif t is str:
        yield "a mapping for a string", {"not": "a string"}
    if s.required and not nullable:
        yield "null for a required value", None


def _bounds(metadata: tuple) -> dict[str, float]:
    found = {}
    for m in metadata:
        if isinstance(m, FieldInfo):  # Annotated[float, Field(ge=0, le=1)]
            found.update(_bounds(tuple(m.metadata)))
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(m, getattr(annotated_types, name.capitalize())):
                found[name] = getattr(m, name)
        if isinstance(m, annotated_types.MinLen) and m.min_length > 0:
            found["min_length"] = m.min_length
    return found


def _out_of_range(s: Setting) -> Iterator[tuple[str, typing.Any]]:
    t, inner, _ = _unwrap(s.annotation)
    bounds = _bounds(s.metadata + inner)
    cast = int if t is int else float
    if "gt" in bounds:
        yield f"{cast(bounds['gt'])} where > {bounds['gt']} is required", cast(bounds["gt"])
        if bounds["gt"] <= 0:
            yield "a negative value", cast(bounds["gt"]) - (1 if t is int else 0.5)
    if "ge" in bounds:
        yield f"below its minimum {bounds['ge']}", cast(bounds["ge"]) - (1 if t is int else 0.5)
    if "lt" in bounds:
        yield f"{cast(bounds['lt'])} where < {bounds['lt']} is required", cast(bounds["lt"])
    if "le" in bounds:
        yield f"above its maximum {bounds['le']}", cast(bounds["le"]) + (0.5 if t is float else 1)
    if bounds.get("lt") == 1 or bounds.get("le") == 1:
        yield "a probability above 1", 1.5
    if "min_length" in bounds:
        yield f"empty where {bounds['min_length']} or more are required", []
    if typing.get_origin(t) is typing.Literal:
        yield f"not one of {list(typing.get_args(t))}", "no-such-choice"


def _typo(name: str, siblings: frozenset[str], rng: random.Random) -> str | None:
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    candidates = set()
    for i in letters:
        candidates.add(name[:i] + name[i + 1:])  # a letter dropped
        candidates.add(name[:i] + name[i] + name[i:])  # a letter doubled
        if i + 1 < len(name) and name[i + 1] != name[i]:
            candidates.add(name[:i] + name[i + 1] + name[i] + name[i + 2:])  # two letters swapped
    candidates = sorted(c for c in candidates if c and c not in siblings and c[0].isalpha())
    return rng.choice(candidates) if candidates else None


def _exists(value: str) -> bool:
    """Whether a config's string names a file or directory (relative: to the working directory)."""
    return bool(value) and "://" not in value and "\n" not in value and (ROOT / value).exists()


def mutations(cli: Cli, kind: str, base: dict, effective: dict, rng: random.Random) -> list[Mutation]:
    """Every mutation of ``kind`` for the config ``base`` (as ``load_base`` gives it, with ``effective``)."""
    model = _model_class(cli.model)
    instance = model.model_validate(base)
    found: list[Mutation] = []
    for s in settings(model, instance):
        if kind == "wrong_type":
            found += [Mutation(kind, f"{s.dotted}: {what}", s.dotted, set=(s.key, value)) for what, value in _wrong_types(s)]
        elif kind == "out_of_range":
            found += [Mutation(kind, f"{s.dotted}: {what}", s.dotted, set=(s.key, value)) for what, value in _out_of_range(s)]
        elif kind == "unknown_key":
            typo = _typo(str(s.key[-1]), s.siblings, rng)
            if typo:
                dotted = ".".join(str(k) for k in s.key[:-1] + (typo,))
                found.append(Mutation(kind, f"{s.dotted} misspelt {typo}", dotted, rename=(s.key, typo)))
        elif kind == "missing_file" and isinstance(s.value, str) and _exists(s.value) and s.dotted not in cli.tolerated:
            found.append(Mutation(kind, f"{s.dotted}: a path to nothing", s.dotted, set=(s.key, f"{_MISSING}/{Path(s.value).name}")))
    if kind == "missing_file":
        found += [Mutation(kind, "config file absent", "{config}", file="absent"),
                  Mutation(kind, "YAML that does not parse", "{config}", file="unparsable")]
    return [m for m in found if kind in ("out_of_range", "missing_file") or _rejected(model, base, effective, m)]


def _rejected(model: type[BaseModel], base: dict, effective: dict, mutation: Mutation) -> bool:
    """Whether the model itself rejects the mutated config (a value pydantic coerces is no wrong type)."""
    try:
        model.model_validate(apply(base, effective, mutation, Path("/")))
    except ValidationError:
        return True
    return False


def _slot(data: dict, effective: dict, key: tuple) -> tuple[typing.Any, typing.Any]:
    """The container of ``key``'s last part in ``data``, filled in from ``effective`` (defaults) on the way."""
    for part in key[:-1]:
        if isinstance(data, dict) and part not in data:
            data[part] = copy.deepcopy(effective[part])
        data, effective = data[part], effective[part]
    return data, key[-1]


def apply(base: dict, effective: dict, mutation: Mutation, work: Path) -> dict:
    """``base`` with ``mutation`` done (a missing path under ``work``)."""
    data = copy.deepcopy(base)
    if mutation.set:
        key, value = mutation.set
        container, last = _slot(data, effective, key)
        container[last] = str(work / value) if isinstance(value, str) and value.startswith(_MISSING) else value
    if mutation.rename:
        key, typo = mutation.rename
        container, last = _slot(data, effective, key)
        container[typo] = container.pop(last) if last in container else _value_at(effective, key)
    return data


def _value_at(tree: dict, key: tuple):
    for part in key:
        tree = tree[part]
    return tree


def _set_dotted(data: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    for part in path:
        data = data.setdefault(part, {})
    data[last] = value


def load_base(cli: Cli, out: Path) -> tuple[dict, dict]:
    """The config as the trial starts from it: its paths that are relative to the config file made absolute
    (the fuzzed copy lies elsewhere), ``overrides`` set; and the same with every default filled in."""
    path = ROOT / cli.config
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def relocate(value):
        if isinstance(value, dict):
            return {k: relocate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [relocate(v) for v in value]
        if isinstance(value, str) and path.parent != ROOT and "://" not in value and value and not Path(value).is_absolute() \
                and (path.parent / value).exists():
            return str((path.parent / value).resolve())
        return value

    data = relocate(data)
    for dotted, value in cli.overrides.items():
        _set_dotted(data, dotted, value.replace("{out}", str(out)) if isinstance(value, str) else value)
    effective = _model_class(cli.model).model_validate(data).model_dump(mode="json")
    return data, effective


# --- trials ---------------------------------------------------------------------------------------


@dataclass
class Trial:
    cli: str
    kind: str
    what: str
    returncode: int | None
    traceback: bool
    names_key: bool
    output_created: bool
    spark_started: bool
    seconds: float
    message: str

    @property
    def survived(self) -> bool:
        return bool(self.returncode) and not self.traceback and self.names_key and not self.output_created and not self.spark_started

    @property
    def failures(self) -> list[str]:
        found = ["timed out"] if self.returncode is None else ["exit 0"] if self.returncode == 0 else []
        checks = (("traceback", self.traceback), ("key not named", not self.names_key), ("output created", self.output_created),
                  ("Spark started", self.spark_started))
        return found + [what for what, bad in checks if bad]


def names(text: str, key: str) -> bool:
    """Whether ``text`` names ``key`` as a setting (``key:``, or ``key.<member>:`` as pydantic reports a
    union's member), not merely as a word."""
    return re.search(rf"(?<![\w./-]){re.escape(key)}(\.[\w-]+)*:", text) is not None


JVM_MARK = "CHAOS_JVM_MARK"


def marking_java(work: Path) -> Path:
    """A ``JAVA_HOME`` under ``work`` whose ``bin/java`` touches the file ``$CHAOS_JVM_MARK`` and runs the real
    one: Spark starts its JVM through ``$JAVA_HOME/bin/java``, so the mark says a session was started."""
    real = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else shutil.which("java")
    java = work / "jvm" / "bin" / "java"
    java.parent.mkdir(parents=True, exist_ok=True)
    java.write_text(f'#!/bin/sh\ntouch "${JVM_MARK}"\nexec "{real}" "$@"\n')
    java.chmod(0o755)
    return work / "jvm"


def run_trial(cli: Cli, mutation: Mutation, base: dict, effective: dict, trial_dir: Path, java_home: Path,
              timeout: float = TIMEOUT_S) -> Trial:
    """Write the fuzzed config into ``trial_dir``, run the command there, and see what it did."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    out, mark = trial_dir / "out", trial_dir / "jvm-started"
    config = trial_dir / ("absent.yaml" if mutation.file == "absent" else "config.yaml")
    if mutation.file == "unparsable":
        config.write_text(_BROKEN_YAML, encoding="utf-8")
    elif mutation.file is None:
        fuzzed = apply(base, effective, mutation, trial_dir)
        config.write_text(yaml.safe_dump(fuzzed, sort_keys=False, allow_unicode=True), encoding="utf-8")
    passed = config
    if cli.host:
        host = yaml.safe_load((ROOT / cli.host[0]).read_text(encoding="utf-8"))
        host[cli.host[1]] = str(config)
        for dotted, value in cli.host_overrides.items():
            _set_dotted(host, dotted, value.replace("{out}", str(out)))
        passed = trial_dir / "run.yaml"
        passed.write_text(yaml.safe_dump(host, sort_keys=False), encoding="utf-8")
    argv = [a.replace("{config}", str(passed)).replace("{out}", str(out)) for a in cli.args]
    env = {**os.environ, "JAVA_HOME": str(java_home), JVM_MARK: str(mark),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    # its own process group: an accepted config may start Spark or a sweep, which a timeout must end too
    proc = subprocess.Popen([sys.executable, "-m", cli.module, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        returncode = None
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C first: a sweep stops the runs it started in their own sessions
        try:
            stdout, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
    seconds = time.monotonic() - started
    text = stderr + stdout
    expect = mutation.expect.replace("{config}", str(config))
    named = expect in text if mutation.expect == "{config}" else names(text, expect)
    lines = text.strip().splitlines()
    message = next((line for line in lines if line.startswith("error")), lines[-1] if lines else "")
    return Trial(cli.name, mutation.kind, mutation.what, returncode, "Traceback (most recent call last)" in text, named,
                 out.exists(), mark.exists(), seconds, message[:300])


def draw(trials: int, rng: random.Random) -> list[tuple[Cli, str]]:
    """``trials`` (command, kind) pairs: rounds over every command in a random order, each round giving
    every command another kind, so that the first round covers every command and four every pair."""
    offsets = {cli.name: rng.randrange(len(KINDS)) for cli in CLIS}
    pairs: list[tuple[Cli, str]] = []
    rounds = 0
    while len(pairs) < trials:
        order = list(CLIS)
        rng.shuffle(order)
        pairs += [(cli, KINDS[(offsets[cli.name] + rounds) % len(KINDS)]) for cli in order]
        rounds += 1
    return pairs[:trials]


def trial_of(cli: Cli, kind: str, trial_dir: Path, java_home: Path, rng: random.Random) -> Trial:
    """One fuzzed config of ``kind`` (another kind when the config has no setting to break that way)."""
    base, effective = load_base(cli, trial_dir / "out")
    for k in KINDS[KINDS.index(kind):] + KINDS[:KINDS.index(kind)]:
        found = mutations(cli, k, base, effective, rng)
        if found:
            return run_trial(cli, rng.choice(found), base, effective, trial_dir, java_home)
    raise AssertionError(f"{cli.name}: no mutation of any kind")


def run(trials: int, work: Path, seed: int = 0) -> dict:
    rng, work = random.Random(seed), Path(work)
    java_home = marking_java(work)
    results = [trial_of(cli, kind, work / f"trial-{i:03d}", java_home, rng) for i, (cli, kind) in enumerate(draw(trials, rng))]
    lost = [t for t in results if not t.survived]
    failing = [t.seconds for t in results if t.returncode]
    detail = f"{len({t.cli for t in results})} CLIs x {len({t.kind for t in results})} fuzz kinds; failures: " + (
        "; ".join(f"{t.cli} {t.what} ({', '.join(t.failures)})" for t in lost) or "none")
    return {"fault": "bad configs", "trials": len(results), "survived": len(results) - len(lost), "lost": 0,
            "recover_s": round(sum(failing) / len(failing), 2) if failing else 0.0, "detail": detail}


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bad-configs-") as tmp:
        print(json.dumps(run(20, Path(tmp)), indent=2))
