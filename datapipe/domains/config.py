"""Configuration of the domain ingest stage (``configs/domains.yaml``): the data root and the list of
sources, each with its domain, reader kind, paths and reader options (validated per kind).

A relative ``root`` is resolved against the directory of the config file that sets it, so a config
and its data can move together (the built-in sample writes ``domains.yaml`` with ``root: .``);
``DomainsConfig()`` holds the defaults of ``configs/domains.yaml``: the real data in ../shared/data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Union

from pydantic import Field, model_validator

from datapipe.config import StrictModel, load_config

from .classical import ChinesePoetrySource, NiuTransSource
from .code import CodeSource
from .encyclopedia import EncyclopediaSource, SquadSource, WikiExtractorSource
from .latex import LatexSource
from .text import JsonlSource, MarkdownSource, QASource, TextSource

Source = Annotated[
    Union[
        CodeSource,
        TextSource,
        MarkdownSource,
        JsonlSource,
        QASource,
        EncyclopediaSource,
        SquadSource,
        WikiExtractorSource,
        LatexSource,
        ChinesePoetrySource,
        NiuTransSource,
    ],
    Field(discriminator="reader"),
]

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def default_sources() -> list:
    """The sources under ../shared/data (see each folder's SOURCES.md there)."""
    cmrc = ["chinese_modern/cmrc2018/squad-style-data/*.json*"]
    return [
        CodeSource(name="code", domain="Code", paths=["code"]),
        LatexSource(name="stacks-project", domain="AcademicPaper", paths=["math/stacks-project/*.tex"], lang="en"),
        SquadSource(name="cmrc2018-contexts", domain="WorldKnowledge", paths=cmrc, lang="zh", emit="context"),
        SquadSource(name="cmrc2018-qa", domain="QA", paths=cmrc, lang="zh", emit="qa"),
        WikiExtractorSource(name="enwiki", domain="WorldKnowledge", paths=["english/enwiki2015"], lang="en", min_chars=200),
        MarkdownSource(name="laws", domain="Profession-Law", paths=["chinese_modern/laws"], exclude=["_index.md*"], lang="zh"),
        MarkdownSource(name="cctv-news", domain="WebText", paths=["chinese_modern/cctv_news"], lang="zh", split_level=3,
                       skip_sections=["新闻摘要"]),
        ChinesePoetrySource(name="chinese-poetry", domain="ClassicalChinese", paths=["chinese_classical/chinese-poetry"], lang="zh", min_chars=8),
        NiuTransSource(name="niutrans-classical", domain="ClassicalChinese", paths=["chinese_classical/NiuTrans_Classical-Modern"], lang="zh", min_chars=8),
        TextSource(name="niutrans-books", domain="ClassicalChinese", paths=["chinese_classical/niutrans_books"], lang="zh", min_chars=8,
                   strip_gutenberg=False, unwrap=False),
        TextSource(name="udhr", domain="Profession-Law", paths=["multilingual/udhr/txt/*.txt"]),
    ]


class DomainsConfig(StrictModel):
    """Settings of the ingest stage."""

    root: str = Field("../../shared/data", description="data root; relative: to the config file's directory")
    strict: bool = Field(False, description="a path that matches no file is an error, not a warning")
    langid_batch_size: int = Field(256, gt=0)
    langid_max_chars: int = Field(2000, gt=0)
    partition_bytes: int = Field(64 << 20, gt=0, description="input bytes per partition (files are never split)")
    sources: list[Source] = Field(default_factory=default_sources, min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> "DomainsConfig":
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        return self


def load_domains_config(path: str | Path | None) -> tuple[DomainsConfig, str]:
    """The config and its data root, a relative root resolved against the file's directory (the
    project's ``configs/`` for the defaults). A root with a URI scheme is returned as it is."""
    config = load_config(DomainsConfig, path)
    base = Path(path).resolve().parent if path is not None else CONFIGS_DIR
    return config, resolve_root(config.root, base)


def resolve_root(root: str, base: Path) -> str:
    if "://" in root or root.startswith("file:"):
        return root.rstrip("/")
    p = Path(root)
    return str(p if p.is_absolute() else (base / p).resolve())
