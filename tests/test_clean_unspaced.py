"""Character-based rules for Chinese and Japanese, each at its threshold."""

from __future__ import annotations

import pytest

from datapipe.clean import CleanConfig, Cleaner
from datapipe.clean.unspaced import is_menu_line

SECTIONS = ("garbled", "refinedweb", "c4", "gopher_quality", "fineweb", "gopher_repetition")
CJK_RULES = dict(
    line_corrections=False,
    max_removed_char_fraction=None,
    min_chars=None,
    min_script_ratio=None,
    min_mean_line_length=None,
    min_punct_line_ratio=None,
    max_dup_line_frac=None,
    max_dup_line_char_frac=None,
    top_ngram_max_char_frac={},
    dup_ngram_max_char_frac={},
)

# Original prose written for these tests.
ZH = """今年春天，城东的社区花园正式开放，居民们可以申请一块属于自己的小菜地。
志愿者们用捐赠的木料搭建了工具房，还安装了收集雨水的水桶，方便大家浇灌。
每逢周六上午，附近学校的一位老师会来讲解堆肥的方法和土壤保养的知识。
孩子们学会了小心地给幼苗浇水，并且用本子记录植物每周长高了多少。
到了夏末，收获的蔬菜多得吃不完，多余的部分被送到了街道的食物银行。
组织者希望明年能够再种几棵果树，并为年长的访客添置几张长椅。
有人说，这片小小的土地让邻居之间的关系变得更加亲近了。
傍晚时分，常常能看到几家人坐在一起，分享自己种出来的西红柿和黄瓜。"""

ZH2 = """这个项目最初只是几位退休教师的想法，他们发现小区里有一块闲置多年的空地。
经过几个月的讨论，居委会同意把这块地交给居民共同管理，并制定了简单的使用规则。
每户人家每年需要参加四次集体劳动，比如修剪杂草、清理水渠和搬运肥料。
规则虽然不多，但大家都很自觉，很少出现争吵或者浪费水的情况。
一些年轻的上班族周末也会过来帮忙，他们说在这里流汗比在健身房里更有意思。
附近的小学把这里当成了自然课的课堂，学生们第一次亲手摸到了泥土里的蚯蚓。"""

JA = """今年の春、町の東側に地域の菜園がオープンし、住民は自分の区画を申し込めるようになった。
ボランティアは寄付された木材で道具小屋を建て、雨水をためるタンクも設置した。
毎週土曜日の朝には、近くの学校の先生が堆肥の作り方や土の手入れについて話してくれる。
子どもたちは苗に丁寧に水をやり、植物が一週間でどれだけ伸びたかをノートに記録している。
夏の終わりには食べきれないほどの野菜がとれ、余った分は地域のフードバンクに届けられた。"""


def unspaced_only(**rule) -> Cleaner:
    data: dict = {name: {"enabled": False} for name in SECTIONS}
    data["unspaced"] = {**CJK_RULES, **rule}
    return Cleaner(CleanConfig.model_validate(data))


def han(n: int, start: int = 0) -> str:
    """n distinct Han characters."""
    return "".join(chr(0x4E00 + start + i) for i in range(n))


# ---------------------------------------------------------------------------------------------
# whole documents with the defaults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, lang", [(ZH, "zh"), (JA, "ja"), (ZH, None), (ZH, "__label__zh"), (ZH, "wuu")])
def test_clean_unspaced_text_is_kept_unchanged(text, lang):
    out = Cleaner().clean(text, lang)
    assert out.reason is None
    assert out.text == text
    assert (out.lines_removed, out.chars_removed) == (0, 0)


def test_unspaced_text_labelled_english_goes_through_the_word_rules():
    out = Cleaner().clean(ZH, "en")
    assert out.reason is not None and not out.reason.startswith("unspaced:")


def test_disabled_unspaced_section_passes_text_through():
    cfg = CleanConfig.model_validate({"unspaced": {"enabled": False}})
    out = Cleaner(cfg).clean("短文本。\n\n 第二行 ", "zh")
    assert out.reason is None and out.text == "短文本。\n第二行"


def test_boilerplate_lines_with_defaults():
    doc = "\n".join(["首页 | 新闻 | 体育 | 登录 | 注册", ZH, ZH2, "分享到：", "返回顶部"])
    out = Cleaner().clean(doc, "zh")
    assert out.reason is None, out  # 17 of ~470 word characters removed
    assert out.text == ZH + "\n" + ZH2
    assert out.lines_removed == 3
    assert out.chars_removed == len("首页 | 新闻 | 体育 | 登录 | 注册分享到：返回顶部")
    # the same boilerplate around a short text is more than 5% of it
    short = "\n".join(["首页 | 新闻 | 体育 | 登录 | 注册", ZH, "分享到：", "返回顶部"])
    assert Cleaner().clean(short, "zh").reason == "unspaced:too_much_removed"


def test_garbled_characters_in_chinese():
    out = Cleaner().clean(ZH.replace("花园", "花\ufffd园", 1), "zh")
    assert out.reason is None and out.text == ZH and out.chars_removed == 1


# ---------------------------------------------------------------------------------------------
# line corrections
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "分享到：微信 微博 QQ空间",
        "上一篇：我国首颗量子科学实验卫星发射成功",
        "下一篇：明天全市大部分地区天气晴朗",
        "返回顶部",
        "版权所有 © 2011 新浪网",
        "Copyright © 2005-2011 新浪网 版权所有",
        "点击查看更多图片",
        "阅读 1234",
        "评论(3)",
        "1234次阅读",
        "12人喜欢",
        "浏览次数：5678",
        "首页 | 登录 | 注册",
        "上一页 1 2 3 下一页",
        "2011-04-12 10:23",
        "———",
        "责任编辑：张三",
        "相关阅读",
        "前の記事",
        "続きを読む",
        "5件のコメント",
        "ホーム | ログイン | 新規登録",
        "登录",  # a lone navigation word is a (one-item) menu
        "体育",
        "参考文献",
    ],
)
def test_unspaced_boilerplate_lines_are_removed(line):
    cleaner = unspaced_only(line_corrections=True)
    out = cleaner.clean(ZH + "\n" + line, "zh")
    assert out.text == ZH, line
    assert (out.lines_removed, out.chars_removed) == (1, len(line))


@pytest.mark.parametrize(
    "line",
    [
        "用户需要登录系统才能看到这些数据，这让很多人感到不便。",
        "相关部门表示，将在下个月公布调查的最终结果。",
        "他在评论中写道：这是我读过最好的一本书。",
        "第3章的标题",
        "（完）",  # short, but ends in terminal punctuation
        "好。",
    ],
)
def test_unspaced_content_lines_are_kept(line):
    out = unspaced_only(line_corrections=True).clean(ZH + "\n" + line, "zh")
    assert out.text == ZH + "\n" + line


def test_short_line_limit():
    cleaner = unspaced_only(line_corrections=True, short_line_max_word_chars=4)
    assert cleaner.clean(ZH + "\n新闻中心", "zh").text == ZH
    assert cleaner.clean(ZH + "\n新闻中心站", "zh").text == ZH + "\n新闻中心站"
    assert unspaced_only(line_corrections=True, short_line_max_word_chars=None).clean(ZH + "\n体育", "zh").text == (
        ZH + "\n体育"
    )


def test_long_lines_are_never_removed_as_boilerplate():
    long_line = "版权所有" + "这是一段很长的正文内容" * 6 + "。"
    assert len(long_line) > 60
    out = unspaced_only(line_corrections=True).clean(ZH + "\n" + long_line, "zh")
    assert out.text == ZH + "\n" + long_line


def test_trailing_navigation_is_cut_from_long_lines():
    body = "到了夏末，收获的蔬菜多得吃不完，多余的部分被送到了街道的食物银行，居民们都很高兴。" * 2
    out = unspaced_only(line_corrections=True).clean(body + "我要评论", "zh")
    assert out.text == body and out.chars_removed == 4 and out.lines_removed == 0


def test_menu_line_detection():
    assert is_menu_line("首页 | 新闻 | 登录")
    assert is_menu_line("上一页 1 2 3 下一页")
    assert not is_menu_line("1 2 3")
    assert not is_menu_line("首页新闻登录")  # not separated: not recognised
    assert not is_menu_line("欢迎 | 登录")
    assert is_menu_line("首页 | 新闻 | 体育 | 财经 | 登录")  # short items, mostly navigation words
    assert not is_menu_line("苹果 | 香蕉 | 橘子 | 登录")  # only one navigation word in four


def test_unspaced_too_much_removed_threshold():
    cleaner = unspaced_only(line_corrections=True, max_removed_char_fraction=0.05)
    body76 = "\n".join([han(38) + "。", han(38, 100) + "。"])  # 76 word characters (+ punctuation)
    out = cleaner.clean(body76 + "\n返回顶部", "zh")  # 4 of 80 word characters removed: 0.05 -> kept
    assert out.reason is None and out.lines_removed == 1
    body75 = "\n".join([han(38) + "。", han(37, 100) + "。"])  # 75 word characters
    assert cleaner.clean(body75 + "\n返回顶部", "zh").reason == "unspaced:too_much_removed"
    # separators and spaces are not counted: a menu of 4 two-character items is 8 units
    menu = "首页 | 登录 | 注册 | 收藏"
    assert cleaner.clean(han(76) + "。\n" + han(76, 100) + "。\n" + menu, "zh").reason is None  # 8/160


def test_everything_removed():
    out = unspaced_only(line_corrections=True).clean("返回顶部\n分享到：\n2011-04-12", "zh")
    assert out.reason == "empty:after_corrections" and out.lines_removed == 3


# ---------------------------------------------------------------------------------------------
# document rules
# ---------------------------------------------------------------------------------------------


def test_min_chars():
    cleaner = unspaced_only(min_chars=200)
    assert cleaner.clean(han(100) + "\n " + han(100, 200), "zh").reason is None  # 200, whitespace ignored
    assert cleaner.clean(han(100) + "\n " + han(99, 200), "zh").reason == "unspaced:min_chars"


def test_min_unspaced_ratio():
    cleaner = unspaced_only(min_script_ratio=0.3)
    assert cleaner.clean(han(30) + " " + "a" * 70, "zh").reason is None
    assert cleaner.clean(han(29) + " " + "a" * 71, "zh").reason == "unspaced:min_script_ratio"
    assert cleaner.clean("ひらがな" * 3 + "a" * 28, "ja").reason is None  # kana count: 12 of 40


def test_min_mean_line_length():
    cleaner = unspaced_only(min_mean_line_length=10)
    assert cleaner.clean(han(12) + "\n" + han(8, 50), "zh").reason is None  # mean 10
    assert cleaner.clean(han(11) + "\n" + han(8, 50), "zh").reason == "unspaced:min_mean_line_length"


def test_punct_line_ratio():
    cleaner = unspaced_only(min_punct_line_ratio=0.2)
    rows = [han(12, 20 * i) for i in range(10)]
    two = "\n".join([r + "。" for r in rows[:2]] + rows[2:])
    one = "\n".join([rows[0] + "！"] + rows[1:])
    assert cleaner.clean(two, "zh").reason is None
    assert cleaner.clean(one, "zh").reason == "unspaced:punct_line_ratio"


@pytest.mark.parametrize("end", ["。", "！", "？", "…", "」", "』", "”", ")", "）", ".", "!"])
def test_unspaced_terminal_punctuation(end):
    cleaner = unspaced_only(min_punct_line_ratio=1.0)
    assert cleaner.clean(han(20) + end, "zh").reason is None


def test_unspaced_dup_lines():
    cleaner = unspaced_only(max_dup_line_frac=0.3)
    rows = [han(12, 20 * i) + "。" for i in range(10)]
    assert cleaner.clean("\n".join([rows[0]] * 4 + rows[1:7]), "zh").reason is None
    assert cleaner.clean("\n".join([rows[0]] * 5 + rows[1:6]), "zh").reason == "unspaced:dup_line_frac"
    char_cleaner = unspaced_only(max_dup_line_char_frac=0.2)
    assert char_cleaner.clean("\n".join(rows[:8] + rows[:2]), "zh").reason is None
    assert char_cleaner.clean("\n".join(rows[:7] + rows[:3]), "zh").reason == "unspaced:dup_line_char_frac"


def test_unspaced_top_char_2gram():
    cleaner = unspaced_only(top_ngram_max_char_frac={2: 0.2})
    fill = iter(han(60))

    def doc(k: int) -> str:
        chars = []
        for _ in range(k):
            chars += [next(fill), "甲", "乙"]
        return "".join(chars) + "".join(next(fill) for _ in range(50 - 3 * k))

    assert cleaner.clean(doc(5), "zh").reason is None  # 10 of 50 characters
    fill = iter(han(60))
    assert cleaner.clean(doc(6), "zh").reason == "unspaced:top_2gram_char_frac"


def test_unspaced_dup_char_5gram():
    cleaner = unspaced_only(dup_ngram_max_char_frac={5: 0.15})
    gram = "甲乙丙丁戊"

    def doc(k: int) -> str:
        fill = iter(han(100))
        out = "".join(next(fill) + gram for _ in range(k))
        return out + "".join(next(fill) for _ in range(100 - len(out)))

    assert cleaner.clean(doc(3), "zh").reason is None  # 15 of 100 characters
    assert cleaner.clean(doc(4), "zh").reason == "unspaced:dup_5gram_char_frac"


def test_unspaced_default_ngram_limits_keep_clean_text_and_drop_repeated_text():
    cleaner = Cleaner()
    assert cleaner.clean(ZH, "zh").reason is None
    repeated = ZH + "\n" + ZH.replace("\n", "")  # the same content twice
    assert cleaner.clean(repeated, "zh").reason.startswith("unspaced:dup_")


def test_unspaced_repetition_measured_before_corrections_by_default():
    doc = "\n".join([ZH] + ["阅读 1234"] * 9)
    raw = unspaced_only(line_corrections=True, max_dup_line_frac=0.3)
    corrected = unspaced_only(line_corrections=True, max_dup_line_frac=0.3, measure_repetition_on="corrected")
    assert raw.clean(doc, "zh").reason == "unspaced:dup_line_frac"
    assert corrected.clean(doc, "zh").reason is None


def test_unspaced_rule_order():
    # too short and not CJK: min_chars is checked first
    assert Cleaner().clean("abc。", "zh").reason == "unspaced:min_chars"
    assert Cleaner().clean("abc " * 100 + "。", "zh").reason == "unspaced:min_script_ratio"


UDHR_UNSPACED = {"th": "tha.txt", "lo": "lao.txt", "km": "khm.txt", "my": "mya.txt", "bo": "bod.txt"}


@pytest.mark.parametrize("lang", sorted(UDHR_UNSPACED))
def test_thai_lao_khmer_burmese_tibetan_get_the_character_rules(lang):
    """Real text in the alphabetic unspaced scripts (the UDHR) is kept by the character rules, which
    measure repetition on n-grams CHARS_PER_HAN times longer than Chinese ones; a repeated page is not.
    The space-delimited rules see a few long "words" per line and drop the same clean text."""
    from datapipe.clean.english import SpaceDelimitedCleaner
    from tests.conftest import shared

    text = shared("multilingual", "udhr", "txt", UDHR_UNSPACED[lang]).read_text(encoding="utf-8")
    cleaner = Cleaner()
    assert cleaner.is_unspaced(text, lang) and cleaner.is_unspaced(text, None)
    assert cleaner.clean(text, lang).reason is None
    lines = [line for line in text.split("\n") if line.strip()]
    assert cleaner.clean("\n".join(lines[3:6] * 6), lang).reason.startswith("unspaced:")
    assert SpaceDelimitedCleaner(CleanConfig()).clean(text, lang, 0).reason is not None
