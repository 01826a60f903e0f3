"""PII masking: e-mail addresses, phone numbers, IP addresses, Chinese resident ID numbers and bank
card numbers, each replaced by its type's placeholder (``<EMAIL>``, ``<PHONE>``, ``<IP>``,
``<ID_CN>``, ``<CARD>``); the rest of the text stays exactly as it was.

Candidates are found with regular expressions on the text with full-width digits and ASCII signs
folded to ASCII (one character for one, so offsets are the same), then checked, so that version
numbers, dates, ISBNs, timestamps, coordinates, prices and numbers in math are left alone:

- e-mail: ``local@domain.tld`` and the bracketed ``[at]``/``(dot)`` spellings; a "top-level domain"
  that is a file type (``icon@2x.png``) is not one;
- phone: ``+`` or ``00`` with a country code (E.164: 8 to 15 digits; +1 exactly 11, +86 a mobile or
  landline length), North American ``(415) 555-0132`` / ``415-555-0132`` / ``415 555-0132`` forms (area
  code and exchange from 2-9, consistent separators or the space-then-dash form), Chinese mobiles (``1[3-9]`` and 9 digits, bare or 3-4-4)
  and landlines (area code 010, 02x or 0xxx, then 7-8 digits, with a separator or parentheses);
- IP: IPv4 (four octets, not part of a longer dotted number, not after "version", "section" and the
  like, not all four single digits) and IPv6 (validated by ``ipaddress``); masked when public, and
  when private or in a documentation range only if configured;
- Chinese resident ID: 18 characters, a province code, a valid birth date and the ISO 7064
  MOD 11-2 check character;
- bank card: 14-19 digits (bare, or in groups of four, or Amex's 4-6-5) that pass the Luhn check and
  start with a card network's prefix at one of its lengths (13 digits are EAN-13 product codes).

Where spans overlap, the type found first wins: e-mail, IP, ID, card, then phone (an ID number is
not also a card, the digits of ``13812345678@139.com`` are no phone).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date

from datapipe.domains.code import LICENSE_RE, _comment_block

from .config import PiiConfig

# Full-width digits and signs to ASCII, one character for one (offsets do not change).
_FOLD = str.maketrans({**{0xFF10 + i: str(i) for i in range(10)}, "＋": "+", "－": "-", "（": "(", "）": ")",
                       "＠": "@", "．": ".", "\u3000": " "})
_FOLDED = re.compile("[" + "".join(map(chr, _FOLD)) + "]")
_HINT = re.compile(r"[0-9\uff10-\uff19@\uff20:]|[\[({]\s?at\s?[\])}]", re.I)
"""Text without a digit, an at sign or a colon has nothing to mask."""
_FILE_TYPES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "css", "js", "json", "html",
               "htm", "pdf", "mp3", "mp4", "zip"}

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_AT = r"(?:@|\s?[\[({]\s?at\s?[\])}]\s?)"
_DOT = r"(?:\.|\s?[\[({]\s?dot\s?[\])}]\s?)"
# The address is ASCII, and so are its boundaries: in Chinese, Japanese or Korean text it often
# touches the words around it (请发邮件至zhang@example.com联系, john@example.com으로).
_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9_.%+-])[A-Za-z0-9_](?:[A-Za-z0-9._%+-]{{0,62}}[A-Za-z0-9_%+-])?{_AT}(?:{_LABEL}{_DOT})+([A-Za-z]{{2,24}})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])",
    re.I,
)

_AT_SIGN = re.compile(r"@|[\[({]\s?at\s?[\])}]", re.I)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9A-Za-z.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
                   r"(?![0-9A-Za-z:]|\.[0-9])")
# Numbers that look like addresses or phones but follow one of these are versions, sections, ISBNs.
_NOT_AFTER = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\brev\.?|\brevision|§|\bsection|\bsec\.|"
                        r"\bchapter|\bclause|\bart\.|\barticle|第|\bisbn(?:-1[03])?:?|\bissn:?|\bdoi:?|\boid)\s*[:#]?\s*$")
_DOCUMENTATION = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the IPv6 space actually assigned; a::b is not an address in use
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                               "169.254.0.0/16", "fc00::/7", "fe80::/10")]

_ID_CN = re.compile(r"(?<![0-9A-Za-z])([1-8][0-9]{5})([ -]?)((?:18|19|20)[0-9]{6})\2([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")
_ID_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
                 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

_CARD = re.compile(r"(?<![0-9A-Za-z.,+\-/=#_&?])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z]|[.,-][0-9])")

_PHONE_INTL = re.compile(r"(?<![0-9A-Za-z+])(?:\(\s?)?(?:\+\s?|(?<![0-9])00)[1-9][0-9 ().-]{5,24}[0-9](?![0-9])")
_PHONE_NANP = re.compile(
    r"(?<![0-9A-Za-z+.-])(?:1[ .-]?)?(?:\([2-9][0-9]{2}\)[ -]?[2-9][0-9]{2}[ .-]|[2-9][0-9]{2}(?P<s>[ .-])[2-9][0-9]{2}(?P=s)"
    r"|[2-9][0-9]{2} [2-9][0-9]{2}-)"
    r"[0-9]{4}(?![0-9A-Za-z]|[.-][0-9])")
_CN_MOBILE_PREFIX = re.compile(r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])")
_PHONE_CN_MOBILE = re.compile(rf"(?<![0-9A-Za-z+.-]){_CN_MOBILE_PREFIX.pattern}(?P<s>[ -]?)[0-9]{{4}}(?P=s)[0-9]{{4}}"
                              r"(?![0-9A-Za-z]|[.-][0-9])")
# Before a North American number written with spaces only, one of these words (else it is a list of numbers).
_PHONE_CUE = re.compile(r"(?i)(?:\b(?:tel|telephone|phone|ph|call|fax|mobile|cell|contact|hotline)\b|☎|📞|电话|手机)[^0-9\n]{0,12}$")
_PHONE_CN_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z+.-])(?:\(0(?:10|2[0-9]|[3-9][0-9]{2})\)\s?|0(?:10|2[0-9]|[3-9][0-9]{2})[ -])[2-8][0-9]{2,3}[ -]?[0-9]{4}"
    r"(?![0-9A-Za-z]|[.-][0-9])")
_PHONE_PREFIX = re.compile(r"(?:\(\s?)?(?:\+\s?|00)")
_DIGIT_RUNS = re.compile(r"[0-9]+|[^0-9]+")
_PHONE_SEPARATORS = {" ", "-", ".", "(", ")", " (", ") ", ")-", "-(", " - "}


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(digits: str) -> bool:
    """Whether ``digits`` starts with a card network's prefix and has one of its lengths. 13 digits is
    none: Visa's 13-digit numbers are retired, and 13 digits are an EAN-13 product code (4006381333931,
    JAN 49..., EAN 50... for the UK), which a tenth of the time passes the Luhn check."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if n == 13:
        return False
    if digits[0] == "4":  # Visa
        return n in (16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 in (62, 81) or p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 3528 <= p4 <= 3589 or 2200 <= p4 <= 2204:
        return 16 <= n <= 19  # UnionPay, Discover, JCB, Mir
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if p2 in (50, 56, 57, 58, 63, 67):  # Maestro
        return 13 <= n <= 19
    return False


def _card_grouping(candidate: str) -> bool:
    """Bare digits, groups of four (the last 1-4), or Amex/Diners 4-6-5 / 4-6-4, one separator kind."""
    separators = set(re.findall(r"[ -]", candidate))
    if not separators:
        return True
    if len(separators) > 1:
        return False
    sizes = [len(g) for g in re.split(r"[ -]", candidate)]
    return sizes in ([4, 6, 5], [4, 6, 4]) or (all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4)


def id_cn_valid(region: str, birth: str, tail: str) -> bool:
    """Province code, a real birth date, and the ISO 7064 MOD 11-2 check character."""
    if int(region[:2]) not in _ID_PROVINCES:
        return False
    try:
        date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return False
    body = region + birth + tail[:3]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS)) % 11]
    return tail[3].upper() == check


def ip_scope(text: str) -> str | None:
    """``public``, ``private``, ``documentation`` or None (not an address; loopback, multicast,
    reserved and unspecified addresses are None too: they identify no one)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if any(addr in net for net in _DOCUMENTATION):
        return "documentation"
    if addr.is_multicast or addr.is_reserved:
        return None
    if addr.is_global and (addr.version == 4 or addr in _GLOBAL_UNICAST):
        return "public"
    if any(addr in net for net in _PRIVATE):
        return "private"
    return None


def _phone_number_ok(groups: list[str]) -> bool:
    """E.164 lengths, with North America's (+1: 3-3-4 digits, area code and exchange from 2-9) and
    China's (+86: a mobile or a landline length) exact."""
    digits = "".join(groups)
    if digits[0] == "1":
        national = [len(g) for g in ([groups[0][1:]] if len(groups[0]) > 1 else []) + groups[1:]]
        return (len(digits) == 11 and national in ([10], [3, 7], [3, 3, 4]) and digits[1] in "23456789"
                and digits[4] in "23456789")
    if digits.startswith("86"):
        national = digits[2:]
        return len(national) == 11 if _CN_MOBILE_PREFIX.match(national) else 9 <= len(national) <= 12
    return 8 <= len(digits) <= 15


def international_phone_length(candidate: str) -> int | None:
    """The length of the longest valid international number at the start of ``candidate`` (a match
    of ``_PHONE_INTL``), cut between digit groups, or None. Separators are single spaces, dashes,
    dots or brackets; brackets balance; dots are not mixed with other separators (a lone dot is a
    decimal point); a number dialled with ``00`` has separators (a bare ``00...`` run is a number)."""
    prefix = _PHONE_PREFIX.match(candidate)
    pos, groups, separators, best = prefix.end(), [], set(), None
    opened = candidate.count("(", 0, prefix.end())
    for run in _DIGIT_RUNS.findall(candidate, pos):
        if run[0].isdigit():
            groups.append(run)
            plain = separators - {"(", ")"}
            if (opened == 0 and _phone_number_ok(groups) and not ("." in plain and (len(plain) > 1 or len(groups) == 2))
                    and ("+" in prefix.group() or len(groups) > 1)):
                best = pos + len(run)
        else:
            if run not in _PHONE_SEPARATORS:
                break
            separators.update(run)
            opened += run.count("(") - run.count(")")
            if opened < 0:
                break
        pos += len(run)
    return best


def license_header_end(text: str, language: str | None) -> int:
    """The end of the leading comment block of a source file when it is a licence or copyright
    notice (0 when there is none)."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith("#!")):
        i += 1
    if i >= len(lines):
        return 0
    end = _comment_block(lines, i, language or "")
    if end == i or not LICENSE_RE.search("\n".join(lines[i:end])):
        return 0
    return len("\n".join(lines[:end]))


# --------------------------------------------------------------------------------------------
# Finding and masking
# --------------------------------------------------------------------------------------------


class PiiFinder:
    """Finds the PII spans of a text for the configured types (see the module)."""

    def __init__(self, config: PiiConfig):
        self.config = config
        self.types = [t for t in ("email", "ip", "id_cn", "card", "phone") if t in config.types]
        self.scopes = {"public"} | ({"private"} if config.mask_private_ips else set()) | (
            {"documentation"} if config.mask_documentation_ips else set())

    def _after_label(self, text: str, start: int) -> bool:
        return _NOT_AFTER.search(text, max(0, start - 16), start) is not None

    def _email(self, text: str) -> list[Span]:
        """Searched only around an at sign (the pattern alone would be tried at every word)."""
        spans: dict[int, Span] = {}
        for at in _AT_SIGN.finditer(text):
            for m in _EMAIL.finditer(text, max(0, at.start() - 70), at.end() + 260):
                if m.start() < at.start() < m.end() and m.group(1).lower() not in _FILE_TYPES:
                    spans[m.start()] = Span(m.start(), m.end(), "email")
        return list(spans.values())

    def _ip(self, text: str) -> list[Span]:
        spans = []
        if "." in text:
            for m in _IPV4.finditer(text):
                if (sum(len(o) == 1 for o in m.group().split(".")) < 3 and not self._after_label(text, m.start())
                        and ip_scope(m.group()) in self.scopes):
                    spans.append(Span(m.start(), m.end(), "ip"))
        if "::" in text or text.count(":") > 2:
            spans += [Span(m.start(), m.end(), "ip") for m in _IPV6.finditer(text) if ip_scope(m.group()) in self.scopes]
        return spans

    def _id_cn(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), "id_cn") for m in _ID_CN.finditer(text) if id_cn_valid(m.group(1), m.group(3), m.group(4))]

    def _card(self, text: str) -> list[Span]:
        spans = []
        for m in _CARD.finditer(text):
            digits = re.sub(r"[ -]", "", m.group())
            if _card_grouping(m.group()) and card_network(digits) and luhn_valid(digits) and not self._after_label(text, m.start()):
                spans.append(Span(m.start(), m.end(), "card"))
        return spans

    def _phone(self, text: str) -> list[Span]:
        spans = []
        for m in _PHONE_INTL.finditer(text):
            length = international_phone_length(m.group())
            if length is not None:
                spans.append(Span(m.start(), m.start() + length, "phone"))
        for m in _PHONE_NANP.finditer(text):
            if m.group("s") == " " and not _PHONE_CUE.search(text, max(0, m.start() - 24), m.start()):
                continue
            if not self._after_label(text, m.start()):
                spans.append(Span(m.start(), m.end(), "phone"))
        for m in _PHONE_CN_MOBILE.finditer(text):
            if not (m.group("s") == "" and m.group().endswith("000000")) and not self._after_label(text, m.start()):
                spans.append(Span(m.start(), m.end(), "phone"))  # a round 11-digit number is a quantity
        spans += [Span(m.start(), m.end(), "phone") for m in _PHONE_CN_LANDLINE.finditer(text) if not self._after_label(text, m.start())]
        return spans

    def find(self, text: str) -> list[Span]:
        """Non-overlapping spans in text order; on overlap the earlier type wins."""
        if _HINT.search(text) is None:
            return []
        folded = text.translate(_FOLD) if _FOLDED.search(text) else text
        taken: list[Span] = []
        occupied: bytearray | None = None  # 1 where a taken span is: linear, where comparing pairs of
        for kind in self.types:            # spans took minutes on a page listing 100,000 addresses
            for span in getattr(self, f"_{kind}")(folded):
                if occupied is None:
                    occupied = bytearray(len(folded))
                if occupied.find(1, span.start, span.end) < 0:
                    occupied[span.start : span.end] = b"\x01" * (span.end - span.start)
                    taken.append(span)
        return sorted(taken, key=lambda s: s.start)


def mask(text: str, spans: list[Span], placeholders: dict[str, str]) -> str:
    """``text`` with each span replaced by its placeholder; everything else unchanged."""
    out, prev = [], 0
    for span in spans:
        out.append(text[prev : span.start])
        out.append(placeholders[span.kind])
        prev = span.end
    out.append(text[prev:])
    return "".join(out)
