"""Cleaning rules for text written without spaces between words (character based): Chinese and
Japanese, and Thai, Lao, Khmer, Myanmar and Tibetan, whose runs a space-based tokenizer would take
for single words.

Word-based rules (Gopher word counts, C4 "3 words per line", stop words) do not apply to such text,
so this pipeline works on characters. Order (first failing rule wins):

1. Line corrections: remove lines without any letter (dates, page numbers, separators), very
   short lines without terminal punctuation (<= 4 word characters: "体育", "参考文献"; the
   analogue of RefinedWeb's single-word lines) and, among lines of <= 60 characters, counter
   lines ("阅读 1234", "评论(3)", "12人喜欢"), navigation menus ("首页 | 登录 | 注册") and lines
   that start or end with a navigation/boilerplate phrase ("上一篇：...", "分享到：", "返回顶部",
   "版权所有", "点击查看", "前の記事", "続きを読む"); cut such a phrase from the end of longer
   lines ("...我要评论"). If more than 5% of the word characters go, the document is dropped
   (``unspaced:too_much_removed``: RefinedWeb's 5% budget of words, applied to the characters of
   unsegmented text).
2. ``empty:after_corrections``; at least 200 non-whitespace characters (ChineseWebText);
   share of the unspaced scripts among non-whitespace characters >= 0.3 (ChineseWebText's Han share);
   mean line length >= 10 characters (ChineseWebText); share of lines ending in terminal punctuation
   >= 0.106 (FineWeb-2's threshold for Mandarin; off for Thai and Lao, which end sentences with a space).
3. Repetition on characters, measured like the space-delimited pipeline on the text before line
   corrections: duplicate lines (Gopher's 0.3/0.2), top character 2/3/4-gram coverage (Gopher's
   limits, as the Swallow corpus applies them to Japanese characters) and duplicate character
   5..10-gram coverage (limits calibrated on clean Chinese text; see configs/clean.yaml); in the
   alphabetic scripts the n-grams are ``datapipe.text.CHARS_PER_HAN`` times longer.
"""

from __future__ import annotations

import regex

from datapipe.clean.config import CleanConfig
from datapipe.clean.outcome import CleanOutcome
from datapipe.clean.repetition import duplicate_units_reason, ngram_reason
from datapipe.text import (
    CHARS_PER_HAN,
    codepoint_ids,
    count_non_whitespace,
    count_word_chars,
    has_letter,
    unspaced_ratio,
)

_I = regex.IGNORECASE | regex.VERSION0

#: words that make up navigation menus; a short line made only of these (and numbers) is a menu
NAV_WORDS = frozenset(
    """
    首页 主页 网站首页 返回首页 登录 登陆 注册 免费注册 退出 收藏 加入收藏 设为首页 分享 评论 发表评论 点赞 转发
    打印 关闭 返回 更多 搜索 帮助 设置 下载 订阅 上一页 下一页 首页 尾页 末页 上一篇 下一篇 上一条 下一条 顶 踩
    赞 举报 回复 引用 客户端 手机版 网站地图 联系我们 关于我们 繁体 简体 繁體 简体中文 繁體中文 微博 微信
    qq空间 qq 人人网 豆瓣 腾讯微博 新浪微博 朋友圈 导航 菜单 频道 专题 论坛 博客 社区 新闻 english
    ホーム トップ ログイン ログアウト 新規登録 会員登録 検索 メニュー シェア ツイート いいね ブックマーク
    前へ 次へ 戻る お問い合わせ サイトマップ プライバシーポリシー 利用規約 会社概要 もっと見る 一覧
    """.split()
)
_NAV_SEP_RE = regex.compile(r"[\s|｜/／\\·•・>＞»›<＜«‹\-–—_、,，.。:：;；!！?？()（）\[\]【】「」《》〈〉]+")

_PREFIXES = (
    "上一篇|下一篇|上一页|下一页|上一条|下一条|上一章|下一章|上一主题|下一主题|分享到|分享至|返回顶部|返回首页|"
    "返回列表|版权所有|版权声明|点击查看|点击进入|点击这里|点击下载|点击阅读|点击播放|扫一扫|扫描二维码|"
    "长按二维码|长按识别|关注我们|关注微信|相关阅读|相关文章|相关新闻|相关推荐|相关链接|热门推荐|热门文章|"
    "推荐阅读|猜你喜欢|延伸阅读|责任编辑|本文链接|原文链接|原文地址|免责声明|打印本页|关闭窗口|本文来源|"
    "转载请注明|未经授权|copyright|©|前の記事|次の記事|関連記事|続きを読む|トップへ戻る|ページトップ|"
    "ページの先頭|この記事をシェア|シェアする|コメントする|コメントを書く"
)
_SUFFIXES = (
    "版权所有|点击查看|返回顶部|阅读全文|查看全文|查看更多|展开全文|点击展开|阅读更多|查看详情|更多>>|更多»|"
    "all rights reserved|続きを読む|もっと見る|全文を読む|詳しくはこちら"
)
_TRAILING = (
    "我要评论|发表评论|查看评论|网友评论|阅读全文|查看全文|展开全文|查看原文|阅读原文|点击查看|查看更多|阅读更多|"
    "返回顶部|返回首页|続きを読む|もっと見る|全文を読む|read more"
)
#: navigation phrases glued to the end of a long line by the extractor; they are cut off
TRAILING_RE = regex.compile(rf"[\s|｜·•>»›\-–—_:：]*(?:{_TRAILING})[\W_]*$", _I)
#: short lines that end with a navigation/boilerplate phrase are removed
SUFFIX_RE = regex.compile(rf"(?:{_SUFFIXES}|{_TRAILING})[\W_]*$", _I)
#: lines that start with a navigation/boilerplate phrase
PREFIX_RE = regex.compile(rf"^[\W_]*(?:{_PREFIXES})", _I)


_CWORD = (
    r"(?:阅读|浏览|评论|点赞|收藏|转发|分享|回复|人气|点击|热度|喜欢|赞|围观|下载|播放|"
    r"いいね|コメント|シェア|閲覧|ブックマーク|views?|likes?|comments?)(?:次数|数|量)?"
)
_CNUM = r"\d[\d,.]*\s*[万千kKwW]?\+?"
_CITEM = rf"(?:{_CWORD}\s*[：:]?\s*[(（]?\s*{_CNUM}\s*[)）]?\s*[次人条件]?|{_CNUM}\s*[次人条件]?の?\s*{_CWORD})"
#: a line made only of counters: "阅读 1234", "评论(3)", "1234次阅读", "12人喜欢", "5件のコメント"
COUNTER_RE = regex.compile(rf"^[\W_]*{_CITEM}(?:[\W_]+{_CITEM})*[\W_]*$", _I)


def is_menu_line(s: str) -> bool:
    """True for a navigation menu: separated items that are all navigation words or page numbers,
    or at least three short items (<= 6 characters) of which at least half are navigation words
    ("首页 | 新闻 | 体育 | 财经 | 登录")."""
    tokens = [t for t in _NAV_SEP_RE.split(s.lower()) if t]
    if not tokens:
        return False
    nav = other = 0
    short = True
    for t in tokens:
        if t in NAV_WORDS:
            nav += 1
        elif not t.isdigit():
            other += 1
            short = short and len(t) <= 6
    if nav == 0:
        return False
    return other == 0 or (short and len(tokens) >= 3 and nav >= other)


class UnspacedCleaner:
    """Character-based rules for one Chinese/Japanese document."""

    def __init__(self, config: CleanConfig):
        self.cfg = config
        self._term = tuple(config.unspaced.terminal_punctuation)

    def is_boilerplate(self, s: str, word_chars: int | None = None) -> bool:
        """True for a line the CJK line corrections remove (``s`` is stripped).

        ``word_chars`` is ``count_word_chars(s)`` when the caller already has it.
        """
        rules = self.cfg.unspaced
        if rules.remove_symbol_lines and not has_letter(s):
            return True
        limit = rules.short_line_max_word_chars
        if limit is not None and not s.endswith(self._term):
            if (count_word_chars(s) if word_chars is None else word_chars) <= limit:
                return True
        if len(s) > rules.boilerplate_max_chars:
            return False
        return bool(COUNTER_RE.match(s) or PREFIX_RE.match(s) or SUFFIX_RE.search(s) or is_menu_line(s))

    def clean(self, text: str, lang: str | None, chars_removed: int = 0) -> CleanOutcome:
        rules = self.cfg.unspaced
        raw_lines = [s for s in (line.strip() for line in text.split("\n")) if s]
        lines_removed = 0

        # ---- 1. line corrections ------------------------------------------------------------
        if rules.line_corrections:
            lines = []
            total = removed = 0
            # The budget counts word characters (Han, kana, letters, digits): the content units of
            # unsegmented text, as words are for RefinedWeb; separators and spaces do not count.
            for s in raw_lines:
                units = count_word_chars(s)
                total += units
                if self.is_boilerplate(s, units):
                    removed += units
                    chars_removed += len(s)
                    lines_removed += 1
                    continue
                if len(s) > rules.boilerplate_max_chars:
                    cut = TRAILING_RE.sub("", s, count=1)
                    if len(cut) != len(s):
                        removed += units - count_word_chars(cut)
                        chars_removed += len(s) - len(cut)
                        s = cut
                lines.append(s)
            if rules.max_removed_char_fraction is not None and total and removed / total > rules.max_removed_char_fraction:
                return CleanOutcome(None, "unspaced:too_much_removed", lines_removed, chars_removed)
        else:
            lines = raw_lines

        def drop(reason: str) -> CleanOutcome:
            return CleanOutcome(None, reason, lines_removed, chars_removed)

        if not lines:
            return drop("empty:after_corrections")
        out_text = "\n".join(lines)

        # ---- 2. length, script share, line shape ---------------------------------------------
        non_ws = count_non_whitespace(out_text)
        if rules.min_chars is not None and non_ws < rules.min_chars:
            return drop("unspaced:min_chars")
        if rules.min_script_ratio is not None and unspaced_ratio(out_text) < rules.min_script_ratio:
            return drop("unspaced:min_script_ratio")
        if rules.min_mean_line_length is not None and sum(map(len, lines)) / len(lines) < rules.min_mean_line_length:
            return drop("unspaced:min_mean_line_length")
        punct_ratio = rules.min_punct_line_ratio_by_language.get(lang, rules.min_punct_line_ratio)
        if punct_ratio is not None:
            term = self._term
            if sum(1 for s in lines if s.endswith(term)) / len(lines) < punct_ratio:
                return drop("unspaced:punct_line_ratio")

        # ---- 3. repetition ---------------------------------------------------------------------
        if rules.measure_repetition_on == "raw":
            rep_lines, rep_text = raw_lines, text
        else:
            rep_lines, rep_text = lines, out_text
        reason = duplicate_units_reason(rep_lines, rules.max_dup_line_frac, rules.max_dup_line_char_frac, "unspaced", "line")
        if reason:
            return drop(reason)
        if rules.top_ngram_max_char_frac or rules.dup_ngram_max_char_frac:
            chars = "".join(rep_text.split())
            scale = CHARS_PER_HAN.get(lang, 1)  # the limits are calibrated on Chinese characters
            top = {n * scale: v for n, v in rules.top_ngram_max_char_frac.items()}
            dup = {n * scale: v for n, v in rules.dup_ngram_max_char_frac.items()}
            reason = ngram_reason(codepoint_ids(chars), None, top, dup, "unspaced")
            if reason:
                return drop(reason)

        return CleanOutcome(out_text, None, lines_removed, chars_removed)
