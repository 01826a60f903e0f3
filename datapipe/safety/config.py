"""Settings of the safety stages: URL filter, bad-word page filter and PII masking.

One file configures all three (``configs/safety.yaml``, whose values are these defaults): the URL
filter job reads ``url_filter``, the safety job ``badwords`` and ``pii``. List paths are relative to
``root`` (``../shared/data/blocklists``, itself relative to the project root); nothing is downloaded.
The defaults and the measurements behind them are in the YAML file's comments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from datapipe.config import StrictModel, require_unique_names
from datapipe.document import DOMAINS
from datapipe.text import UNSPACED_LANGUAGES

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
"""Relative list roots are resolved against the directory that holds ``datapipe/``."""

ListName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=64)]
PiiType = Literal["email", "phone", "ip", "id_cn", "card"]
PII_TYPES: tuple[str, ...] = get_args(PiiType)


def _known_domains(domains: list[str]) -> list[str]:
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(DOMAINS)}")
    return domains


DomainList = Annotated[list[str], AfterValidator(_known_domains)]


class Entries(StrictModel):
    """Entries given inline and/or in files (one entry per line, ``#`` starts a comment line)."""

    entries: list[str] = Field(default_factory=list, description="inline entries")
    paths: list[str] = Field(default_factory=list, description="files or globs, relative to root (or absolute)")


class BlockList(StrictModel):
    """One named block list; a URL it matches is rejected as ``url:blocklist:<name>``."""

    name: ListName
    domains: list[str] = Field(default_factory=list, description="files of domains: one per line (UT1 `domains`, "
                               "plain lists) or hosts-file lines (`0.0.0.0 domain ...`); subdomains match too")
    urls: list[str] = Field(default_factory=list, description="UT1 `urls` files: host/path per line, matching that "
                            "page and everything below it")
    expressions: list[str] = Field(default_factory=list, description="UT1 `expressions` files: one regular "
                                   "expression per line, searched in the URL without its scheme")

    @model_validator(mode="after")
    def _has_a_file(self) -> "BlockList":
        if not (self.domains or self.urls or self.expressions):
            raise ValueError(f"block list {self.name}: give at least one of domains, urls, expressions")
        return self


def default_blocklists() -> list[BlockList]:
    """The lists under ``../shared/data/blocklists`` (see its SOURCES.md and configs/safety.yaml)."""
    return [
        BlockList(name="adult", domains=["pihole/pi_blocklist_porn_top1m.list"], urls=["ut1/adult/urls"],
                  expressions=["ut1/adult/expressions"]),
        BlockList(name="gambling", domains=["ut1/gambling/domains"], urls=["ut1/gambling/urls"]),
        BlockList(name="dating", domains=["ut1/dating/domains"], urls=["ut1/dating/urls"]),
        BlockList(name="agressif", domains=["ut1/agressif/domains"], urls=["ut1/agressif/urls"],
                  expressions=["ut1/agressif/expressions"]),
    ]


DEFAULT_BANNED_WORDS = (
    "porn", "porno", "xxx", "pussy", "milf", "tits", "boobs", "sexy", "slut", "fuck", "fucking", "cock",
    "hentai", "shemale", "nsfw", "horny", "erotic", "camgirl", "escort", "escorts",
)
DEFAULT_BANNED_SUBWORDS = (
    "porn", "xxx", "hentai", "shemale", "bigtits", "blowjob", "cumshot", "creampie", "gangbang",
    "bangbros", "bestiality", "jizz", "camgirl", "livesex", "sexcam", "femdom", "upskirt", "handjob",
)


class UrlFilterConfig(StrictModel):
    """Block lists and banned words in URLs (RefinedWeb, FineWeb); see configs/safety.yaml."""

    blocklists: list[BlockList] = Field(default_factory=default_blocklists, max_length=64)
    allow: Entries = Field(default_factory=Entries, description="domains (and their subdomains) no rule rejects")
    banned_words: Entries = Field(default_factory=lambda: Entries(entries=list(DEFAULT_BANNED_WORDS)),
                                  description="a URL with one of these as a whole token is rejected")
    banned_subwords: Entries = Field(default_factory=lambda: Entries(entries=list(DEFAULT_BANNED_SUBWORDS)),
                                     description="a URL containing one of these, non-alphanumerics removed, is rejected")
    soft_words: Entries = Field(default_factory=lambda: Entries(paths=["ldnoobw/en"]),
                                description="a URL with soft_words_min of these as whole tokens is rejected")
    soft_words_min: int = Field(2, ge=1, description="distinct soft words that reject a URL")

    @field_validator("blocklists")
    @classmethod
    def _unique_names(cls, v: list[BlockList]) -> list[BlockList]:
        return require_unique_names(v, "block list")


# Entries of the LDNOOBW lists matched but not counted (configs/safety.yaml gives the measurements):
# words in at least 0.5% of the reference documents (English Wikipedia; Chinese statutes and CCTV
# news), single characters that occur inside ordinary words, the anatomy and medicine that put
# reference documents over the limit, and longer strings that contain an entry across a word boundary.
DEFAULT_IGNORE = {
    "en": [
        # in >= 0.5% of the English Wikipedia articles
        "anal", "ass", "bastard", "butt", "dick", "domination", "erotic", "escort", "hardcore", "hooker", "incest",
        "intercourse", "negro", "nude", "penis", "playboy", "pornography", "rape", "sex", "sexual", "sexuality",
        "sexually", "xx",
        # anatomy and medicine: the words that put articles of the reference text over the limit
        "anus", "clitoris", "ejaculation", "eunuch", "fecal", "genitals", "g-spot", "masturbation", "nipple", "nipples",
        "nudity", "orgasm", "rectum", "semen", "sodomy", "vagina", "vulva",
    ],
    "zh": [
        # in >= 0.5% of the statutes or news items
        "13.", "乳", "卖淫", "卵", "嫖娼", "强奸", "性", "性交", "成人", "淫秽", "色情", "逼",
        # single characters inside ordinary words (牛奶 milk, 汉奸 traitor, 幹部 cadre, ...)
        "奶", "奸", "妓", "姦", "幹", "淫", "爛", "賤", "尻", "鳩", "撚", "柒",
        # anatomy and medicine (an injury assessment standard, a news item on menstrual health)
        "阴茎", "阴道", "乳房", "乳头", "龟头", "外阴", "阴部", "阴唇", "阴毛", "月经", "精子", "卵子", "射精", "包皮",
        # across a word boundary: 路口交通, 出口交易, 生鲜乳交易, 争做爱党爱国, 奸淫妇女, 体操比赛
        "路口交", "出口交", "进口交", "人口交", "乳交易", "乳交接", "水乳交", "争做爱", "做爱党", "做爱国", "叫做爱",
        "奸淫妇", "体操比",
    ],
    "ja": [
        # inside katakana words: トラバーサル (traversal), グローバル (global)
        "ラバー", "グロ",
    ],
}


class LanguageLimit(StrictModel):
    """The bad-word limit of one language (overrides the defaults)."""

    max_per_thousand: float = Field(gt=0, description="matches per 1,000 words (characters in substring languages)")
    min_matches: int = Field(ge=1, description="fewer matches never reject")


class BadWordsConfig(StrictModel):
    """The page filter on listed words (C4's list, LDNOOBW), on a rate instead of C4's one hit."""

    domains: DomainList = Field(default_factory=lambda: ["WebText"], description="domains the filter applies to")
    directory: str | None = Field("ldnoobw", description="one list per language, each file named by its "
                                  "language code (LDNOOBW layout); null: only `lists`")
    file_languages: dict[str, str] = Field(default_factory=lambda: {"fil": "tl", "fr-CA-u-sd-caqc": "fr"},
                                           description="file name -> lid.176 code where they differ")
    lists: dict[str, list[str]] = Field(default_factory=dict, description="language -> more list files")
    ignore: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_IGNORE.items()},
                                         description="language -> entries matched but not "
                                         "counted (neutral senses; longer strings that contain an entry)")
    substring_languages: list[str] = Field(default_factory=lambda: list(UNSPACED_LANGUAGES),
                                           description="languages matched as substrings, rated per 1,000 characters")
    max_per_thousand: float = Field(4.0, gt=0, description="rate at which a page is rejected")
    min_matches: int = Field(3, ge=1, description="fewer matches never reject a page")
    limits: dict[str, LanguageLimit] = Field(
        default_factory=lambda: {lang: LanguageLimit(max_per_thousand=2.5, min_matches=3) for lang in ("zh", "ja")},
        description="language -> its own limit")
    detail_words: int = Field(5, ge=0, le=50, description="most frequent matched words named in a reject's detail")

    def limit(self, lang: str) -> LanguageLimit:
        """The limit that applies to ``lang``."""
        return self.limits.get(lang) or LanguageLimit(max_per_thousand=self.max_per_thousand, min_matches=self.min_matches)


class PiiConfig(StrictModel):
    """Masking of personal data: each span replaced by its type's placeholder."""

    domains: DomainList = Field(
        default_factory=lambda: ["WebText", "Profession-Law", "Profession-Medical", "Profession-Patent", "Profession-Math"],
        description="domains whose documents are masked")
    languages: list[str] | None = Field(None, description="only documents in these languages; null: all")
    types: list[PiiType] = Field(default_factory=lambda: list(PII_TYPES), description="what is masked")
    placeholders: dict[PiiType, str] = Field(
        default_factory=lambda: {"email": "<EMAIL>", "phone": "<PHONE>", "ip": "<IP>", "id_cn": "<ID_CN>", "card": "<CARD>"})
    mask_private_ips: bool = Field(False, description="also private, shared and link-local addresses")
    mask_documentation_ips: bool = Field(False, description="also the documentation ranges (RFC 5737, RFC 3849)")
    keep_in_license_headers: bool = Field(False, description="Code: addresses in the leading licence comment stay")

    @model_validator(mode="after")
    def _every_type_has_a_placeholder(self) -> "PiiConfig":
        missing = [t for t in self.types if not self.placeholders.get(t)]
        if missing:
            raise ValueError(f"placeholders missing for {missing}")
        return self


class SafetyConfig(StrictModel):
    """Settings of the URL filter and safety stages (``configs/safety.yaml`` repeats the defaults)."""

    root: str = Field("../shared/data/blocklists", description="list paths are relative to this; relative roots "
                      "to the project root")
    strict: bool = Field(False, description="a missing list file is an error instead of a warning")
    url_filter: UrlFilterConfig = Field(default_factory=UrlFilterConfig)
    badwords: BadWordsConfig = Field(default_factory=BadWordsConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)

    def root_path(self) -> Path:
        root = Path(self.root).expanduser()
        return root if root.is_absolute() else PROJECT_ROOT / root
