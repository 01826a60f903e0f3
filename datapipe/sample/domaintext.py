"""Fixed texts of the sample corpus's non-web domain sources and of its benchmark file.

Everything here was written for the sample (the classical Chinese originals are public-domain
texts more than a thousand years old; the modern renderings are ours). Each source plants what its
reader must handle: a license header, a generated and a minified file, Project Gutenberg framing
and hard wraps, reference sections in English and Chinese, LaTeX preamble, comments and
bibliography, chinese-poetry JSON layouts (flat, nested, gzipped, Traditional characters) and
the NiuTrans line-aligned layout.
"""

from __future__ import annotations

# --- code ------------------------------------------------------------------------------------

LICENSE_HEADER_LINE = "# Copyright (c) 2024 The TeleFLM Sample Authors"

CODE_STATS_PY = f'''{LICENSE_HEADER_LINE}
#
# Permission is hereby granted, free of charge, to any person obtaining a copy of this
# software, to use, copy, modify and distribute it, under the terms of the MIT License.
# SPDX-License-Identifier: MIT

"""Small descriptive statistics over lists of numbers."""

from __future__ import annotations

import math


def mean(values: list[float]) -> float:
    """Arithmetic mean; raises ValueError on an empty list."""
    if not values:
        raise ValueError("mean of an empty list")
    return sum(values) / len(values)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def stdev(values: list[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator)."""
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


if __name__ == "__main__":
    data = [2.0, 4.0, 4.0, 5.0, 7.0, 9.0]
    print(mean(data), median(data), round(stdev(data), 3))
'''

CODE_RING_BUFFER_CPP = """// A fixed-capacity ring buffer that overwrites its oldest element when full.
#include <array>
#include <cstddef>
#include <iostream>
#include <optional>

template <typename T, std::size_t N>
class RingBuffer {
 public:
  void push(const T& value) {
    data_[(start_ + size_) % N] = value;
    if (size_ < N) {
      ++size_;
    } else {
      start_ = (start_ + 1) % N;
    }
  }

  std::optional<T> pop() {
    if (size_ == 0) return std::nullopt;
    T value = data_[start_];
    start_ = (start_ + 1) % N;
    --size_;
    return value;
  }

  std::size_t size() const { return size_; }

 private:
  std::array<T, N> data_{};
  std::size_t start_ = 0;
  std::size_t size_ = 0;
};

int main() {
  RingBuffer<int, 3> buffer;
  for (int i = 1; i <= 5; ++i) buffer.push(i);
  while (auto v = buffer.pop()) std::cout << *v << ' ';
  std::cout << '\\n';
  return 0;
}
"""

CODE_BOUNDED_QUEUE_JAVA = """package sample.collections;

import java.util.ArrayDeque;
import java.util.Deque;

/** A first-in first-out queue that refuses new elements beyond its capacity. */
public final class BoundedQueue<T> {
    private final Deque<T> items = new ArrayDeque<>();
    private final int capacity;

    public BoundedQueue(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive");
        }
        this.capacity = capacity;
    }

    /** Adds an element; returns false when the queue is full. */
    public boolean offer(T item) {
        if (items.size() >= capacity) {
            return false;
        }
        items.addLast(item);
        return true;
    }

    public T poll() {
        return items.pollFirst();
    }

    public int size() {
        return items.size();
    }

    public static void main(String[] args) {
        BoundedQueue<String> queue = new BoundedQueue<>(2);
        System.out.println(queue.offer("a") + " " + queue.offer("b") + " " + queue.offer("c"));
        System.out.println(queue.poll() + " " + queue.size());
    }
}
"""

CODE_MATRIX_RS = """/// Multiplies two square matrices stored row by row.
pub fn multiply(a: &[Vec<i64>], b: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let n = a.len();
    let mut out = vec![vec![0; n]; n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i][k];
            for j in 0..n {
                out[i][j] += aik * b[k][j];
            }
        }
    }
    out
}

/// Raises a square matrix to a non-negative power by repeated squaring.
pub fn power(m: &[Vec<i64>], mut exp: u32) -> Vec<Vec<i64>> {
    let n = m.len();
    let mut result: Vec<Vec<i64>> = (0..n)
        .map(|i| (0..n).map(|j| i64::from(i == j)).collect())
        .collect();
    let mut base = m.to_vec();
    while exp > 0 {
        if exp & 1 == 1 {
            result = multiply(&result, &base);
        }
        base = multiply(&base, &base);
        exp >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_from_matrix_power() {
        let q = vec![vec![1, 1], vec![1, 0]];
        assert_eq!(power(&q, 10)[0][1], 55);
    }
}
"""

CODE_WORDCOUNT_GO = """// Command wordcount prints the most frequent words of its standard input.
package main

import (
\t"bufio"
\t"fmt"
\t"os"
\t"sort"
\t"strings"
)

func main() {
\tcounts := map[string]int{}
\tscanner := bufio.NewScanner(os.Stdin)
\tscanner.Split(bufio.ScanWords)
\tfor scanner.Scan() {
\t\tword := strings.ToLower(strings.Trim(scanner.Text(), ".,;:!?\\"'()"))
\t\tif word != "" {
\t\t\tcounts[word]++
\t\t}
\t}
\twords := make([]string, 0, len(counts))
\tfor w := range counts {
\t\twords = append(words, w)
\t}
\tsort.Slice(words, func(i, j int) bool {
\t\tif counts[words[i]] != counts[words[j]] {
\t\t\treturn counts[words[i]] > counts[words[j]]
\t\t}
\t\treturn words[i] < words[j]
\t})
\tfor i, w := range words {
\t\tif i == 10 {
\t\t\tbreak
\t\t}
\t\tfmt.Printf("%6d %s\\n", counts[w], w)
\t}
}
"""

CODE_GENERATED_PB2_PY = r'''# -*- coding: utf-8 -*-
# Generated by the protocol buffer compiler.  DO NOT EDIT!
# source: weather.proto
"""Generated protocol buffer code."""
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import symbol_database as _symbol_database

_sym_db = _symbol_database.Default()

DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\rweather.proto\x12\x07weather"3\n\x07Reading\x12\x0f\n\x07station\x18\x01 \x01(\t\x12\x17\n\x0ftemperature_c\x18\x02 \x01(\x02')
'''


def minified_js() -> str:
    """One line of minified JavaScript, well over the 1000-character line limit."""
    parts = ["/*! carousel v2.1.0 | (c) 2024 sample | MIT */", '!function(n){"use strict";']
    for name in "abcdefghijklmnop":
        parts.append(
            f"function {name}(t,e){{var i=t.querySelectorAll(\".slide-{name}\"),r=0;return i.forEach("
            f"function(t,n){{t.style.transform=\"translateX(\"+100*(n-e)+\"%)\",r++}}),r}}"
        )
    parts.append("n.Carousel={" + ",".join(f"{c}:{c}" for c in "abcdefghijklmnop") + "}}(window);")
    return "".join(parts) + "\n"


CODE_NOTES_MD = "# Sample code\n\nFiles for the code reader: five hand-written, one generated, one minified.\n"

# --- book ------------------------------------------------------------------------------------

BOOK_TITLE = "The Keeper of Gull Rock"

BOOK_FRONT = """The Project Gutenberg eBook of The Keeper of Gull Rock

This eBook is a sample written for the datapipe test corpus in the layout of a
Project Gutenberg text. It is in the public domain: copy it freely.

Title: The Keeper of Gull Rock
Author: Anonymous
Release date: January 1, 2024 [sample]
Language: English

*** START OF THE PROJECT GUTENBERG EBOOK THE KEEPER OF GULL ROCK ***




THE KEEPER OF GULL ROCK

"""

BOOK_BACK = """

*** END OF THE PROJECT GUTENBERG EBOOK THE KEEPER OF GULL ROCK ***

Updated editions will replace the previous one. This sample footer stands
for the license section that follows every Project Gutenberg text.
"""

BOOK_CHAPTERS = [
    (
        "CHAPTER I. THE LAMP",
        [
            "Martha Lane had kept the light on Gull Rock for eleven winters, and in all that time she "
            "had never once let the lamp go dark. Every evening she climbed the ninety-two steps of the "
            "tower with a can of oil in one hand and a lantern in the other, trimmed the wick, polished "
            "the great lens until it shone like a second moon, and wrote the hour in her log.",
            "The fishermen of the harbour town said that she talked to the gulls, and perhaps she did. "
            "There was no one else to talk to between the supply boat's visits, which came every second "
            "Thursday when the sea allowed it and not at all when it did not.",
            "She did not mind the solitude. She had books, a garden of hardy herbs in the lee of the "
            "cottage wall, and the changing sea, which she had come to read as other people read a "
            "newspaper.",
        ],
    ),
    (
        "CHAPTER II. THE STORM",
        [
            "The storm came out of the south-west on the last night of October. By dusk the swell was "
            "breaking white over the outer reef, and by nine o'clock the wind was strong enough to make "
            "the tower hum like a plucked string.",
            "Martha wound the clockwork that turned the lens and sat by the window of the lamp room with "
            "her telescope. A little after midnight she saw what she had been dreading: a single red "
            "light, low on the water, moving where no vessel should be.",
            "It was the mail steamer from the islands, blown far off her course and running straight "
            "for the reef that had given Gull Rock its terrible name.",
        ],
    ),
    (
        "CHAPTER III. THE RESCUE",
        [
            "There was no time to send for help, and no one to send. Martha lit every lantern she owned, "
            "carried them to the seaward gallery, and hung them in a line to mark the gap in the reef "
            "that only the lighthouse keepers knew.",
            "For an hour the red light wavered. Then, slowly, it turned, found the gap, and slid through "
            "into the sheltered water behind the rock, where the steamer dropped anchor and rode out the "
            "rest of the gale.",
            "In the morning forty-one passengers came ashore in the ship's boats. The captain shook "
            "Martha's hand for a long time and said nothing at all, and she understood him perfectly.",
        ],
    ),
]

# --- encyclopedia ----------------------------------------------------------------------------

ENCYCLOPEDIA_ARTICLES = [
    {
        "title": "Abacus",
        "lang": "en",
        "body": [
            "An abacus is a hand-operated calculating tool made of a frame holding rods, on which beads "
            "are slid to represent numbers.[1] Versions of the tool were used in Mesopotamia, Greece, "
            "Rome, China and Japan long before written numerals became common.",
            "The Chinese suanpan usually has two beads above the beam and five below on each rod, while "
            "the Japanese soroban has one and four. A skilled operator can add and subtract as quickly "
            "as a person using an electronic calculator.[2]",
        ],
        "end": [
            "See also",
            "Slide rule",
            "Counting board",
            "References",
            "1. Sample, A. (2001). A Short History of Calculating Tools. Sample Press.",
            "2. Sample, B. (1998). Speed Trials with the Soroban. Journal of Sample Studies 4: 12-19.",
            "External links",
            "- Abacus collection of the sample museum https://example.org/abacus",
        ],
        "reference_sections": 3,
    },
    {
        "title": "Tide mill",
        "lang": "en",
        "body": [
            "A tide mill is a water mill driven by the rise and fall of the tide. A dam with a sluice is "
            "built across a tidal inlet, and the water stored at high tide is released through a water "
            "wheel as the tide goes out.",
            "== History ==",
            "Tide mills were recorded on the coasts of Europe from the early Middle Ages, and several "
            "hundred worked around the Atlantic by the eighteenth century.[3] Most stopped turning when "
            "cheaper steam and electric power reached the mills' customers.",
        ],
        "end": [
            "== References ==",
            "3. Sample, C. (2010). Mills of the Tidal Coast. Sample Press.",
            "== External links ==",
            "* Tide mill database https://example.org/tidemills",
        ],
        "reference_sections": 2,
    },
    {
        "title": "Basalt",
        "lang": "en",
        "body": [
            "Basalt is a fine-grained volcanic rock formed from the rapid cooling of lava rich in "
            "magnesium and iron. It makes up most of the ocean floor and large parts of volcanic islands "
            "such as Iceland and Hawaii.",
            "## Columnar jointing",
            "When a thick lava flow cools slowly, it can contract into regular columns, often six-sided, "
            "as at the Giant's Causeway in Northern Ireland.",
        ],
        "end": [
            "## Further reading",
            "- Sample, D. (2015). Rocks of the Ocean Floor. Sample Press.",
        ],
        "reference_sections": 1,
    },
    {
        "title": "算盘",
        "lang": "zh",
        "body": [
            "算盘是一种手动操作的计算工具，由框、梁和档组成，每档穿有若干算珠。[1]常见的中国算盘上方每档有两颗珠，"
            "每颗代表五；下方每档有五颗珠，每颗代表一。",
            "使用算盘进行计算的方法称为珠算。熟练的使用者能够快速完成加减乘除，甚至开平方和开立方。[2]"
            "珠算口诀便于记忆，曾在商业和会计工作中广泛使用。",
            "二十世纪后期，电子计算器逐渐普及，算盘的日常用途随之减少，但珠算仍被一些学校用来训练心算能力。",
        ],
        "end": [
            "参考文献",
            "1. 示例作者. 中国计算工具简史. 示例出版社, 2001.",
            "2. 示例作者. 珠算教学法. 示例出版社, 1995.",
            "外部链接",
            "- 示例博物馆算盘藏品 https://example.org/suanpan",
        ],
        "reference_sections": 2,
    },
    {
        "title": "潮汐能",
        "lang": "zh",
        "body": [
            "潮汐能是利用海水涨落所蕴含的能量发电的一种可再生能源。潮汐由月球和太阳的引力共同形成，其周期可以准确预报，"
            "因此潮汐发电的出力比风能和太阳能更容易预测。",
            "== 原理 ==",
            "潮汐电站通常在海湾或河口修建拦潮坝，涨潮时蓄水，落潮时放水，利用水位差推动水轮发电机组。"
            "也有电站把水轮机直接安装在潮流中，利用水流的动能发电。[3]",
        ],
        "end": [
            "== 参见 ==",
            "* 波浪能",
            "* 海洋温差发电",
            "【参考资料】",
            "3. 示例作者. 海洋能源导论. 示例出版社, 2010.",
        ],
        "reference_sections": 2,
    },
]

# --- benchmark and QA ------------------------------------------------------------------------

BENCHMARK_ITEMS = [
    {
        "id": "sample-bench-001",
        "lang": "en",
        "question": "A bakery sells muffins in boxes of 6. On Monday it baked 150 muffins and sold 19 full "
        "boxes. How many muffins were left at the end of the day?",
        "answer": "It sold 19 x 6 = 114 muffins, so 150 - 114 = 36 muffins were left.",
    },
    {
        "id": "sample-bench-002",
        "lang": "en",
        "question": "A ball is dropped from a height of 20 meters and each bounce reaches half the height "
        "of the previous one. How high does the ball rise after the third bounce?",
        "answer": "After three bounces the height is 20 / 2 / 2 / 2 = 2.5 meters.",
    },
    {
        "id": "sample-bench-003",
        "lang": "zh",
        "question": "一个学校组织四个班的学生参观科技馆，每个班有三十八名学生，另有十二名老师随行。这次参观一共有多少人？",
        "answer": "学生共有三十八乘以四等于一百五十二人，加上十二名老师，一共是一百六十四人。",
    },
    {
        "id": "sample-bench-004",
        "lang": "en",
        "question": "A train leaves the station at 9:40 and the journey takes 2 hours and 35 minutes. At "
        "what time does the train arrive at its destination?",
        "answer": "It arrives at 12:15.",
    },
    {
        "id": "sample-bench-005",
        "lang": "zh",
        "question": "小明有二十四张邮票，他把其中的三分之一送给了同学，又买了五张。小明现在有多少张邮票？",
        "answer": "送出八张后剩下十六张，再买五张，现在有二十一张。",
    },
]
"""The sample's benchmark test set (``benchmarks/sample_bench.jsonl``): items 001 and 003 are planted
in web article pages, item 002 in a QA record; 004 and 005 appear nowhere else."""

WEB_PLANTED_ITEMS = ("sample-bench-001", "sample-bench-003")
QA_PLANTED_ITEM = "sample-bench-002"

QA_RECORDS = [
    {"question": "What is the boiling point of water at sea level in degrees Celsius?",
     "answer": "Water boils at 100 degrees Celsius at standard sea-level pressure."},
    {"question": "Why does the Moon show phases?",
     "answer": "As the Moon orbits the Earth we see different parts of its sunlit half, from none at new "
               "moon to all of it at full moon."},
    {"question": "长城主要修建于哪些朝代？", "answer": "长城的主体工程主要修建于秦朝和明朝，现存的大部分城墙是明代修筑的。"},
    {"question": "How many bones are in the adult human body?", "answer": "An adult human skeleton usually has 206 bones."},
    QA_PLANTED_ITEM,
    {"question": "Which gas do plants take from the air for photosynthesis?"},
    {"question": "一年有多少个节气？", "answer": "中国传统历法把一年分为二十四个节气。"},
    {"question": "What is the capital of Australia?", "answer": "Canberra is the capital of Australia."},
]
"""QA records; the benchmark item's id marks where it is planted, and one record has no answer."""

# --- academic paper --------------------------------------------------------------------------

LATEX_PAPER = r"""% odd_numbers.tex -- sample paper for the datapipe sample corpus
% Compile with: pdflatex odd_numbers && bibtex odd_numbers
\documentclass[11pt]{article}
\usepackage{amsmath,amssymb,amsthm}
\usepackage[margin=1in]{geometry}
\newtheorem{theorem}{Theorem}
\newcommand{\N}{\mathbb{N}}  % natural numbers

\title{Sums of Consecutive Odd Numbers}
\author{A. Sample}
\date{January 2024}

\begin{document}
\maketitle

\begin{abstract}
We give three short proofs that the sum of the first $n$ odd numbers is $n^2$, and note that
about 50\% of the proofs in our collection use induction. % TODO: check the percentage
\end{abstract}

\section{Introduction}
% This paragraph was rewritten after review.
The identity
\begin{equation}
  \sum_{k=1}^{n} (2k-1) = n^2 \qquad (n \in \N)
  \label{eq:odd}
\end{equation}
is among the oldest results in number theory; it appears already in Greek
arithmetic as a statement about square arrangements of pebbles~\cite{heath}.

\section{Proofs}
\begin{theorem}
For every $n \in \N$, equation~\eqref{eq:odd} holds.
\end{theorem}
\begin{proof}
For $n = 1$ both sides equal $1$. If the identity holds for $n$, adding the next odd
number gives $n^2 + (2n+1) = (n+1)^2$, so it holds for $n+1$.
\end{proof}
A second proof pairs the $k$-th and the $(n+1-k)$-th terms: each pair sums to $2n$, and
there are $n/2$ pairs, hence the total $n^2$. %% an even n is assumed here
A third proof is geometric: an $n \times n$ square grows into an $(n+1) \times (n+1)$ square
by adding an L-shaped border of $2n+1$ cells~\cite{nelsen}.

\section{Conclusion}
Induction, pairing and pictures each explain why the sum of odd numbers is a square.

\begin{thebibliography}{9}
\bibitem{heath} T.~L. Heath, \emph{A History of Greek Mathematics}, Clarendon Press, 1921.
\bibitem{nelsen} R.~B. Nelsen, \emph{Proofs Without Words}, Mathematical Association of America, 1993.
\end{thebibliography}
\bibliographystyle{plain}

\end{document}
"""

# --- professions -----------------------------------------------------------------------------

LAW_TEXT = """Model Residential Tenancy Code (sample text)
Part 1. General Provisions
Article 1. This Code governs agreements under which a landlord lets a dwelling to a tenant for residential use in exchange for rent.
Article 2. A tenancy agreement shall be made in writing and shall state the names of the parties, the address of the dwelling, the amount of rent, the dates on which rent is due and the amount of any security deposit.
Part 2. Rights and Duties
Article 3. The landlord shall keep the dwelling fit for habitation and shall carry out repairs to the structure, the roof, the heating and the water supply within a reasonable time after being notified.
Article 4. The tenant shall pay the rent when it is due, shall use the dwelling with reasonable care and shall not make structural alterations without the written consent of the landlord.
Article 5. The landlord may enter the dwelling to inspect or repair it only after giving the tenant at least twenty-four hours' notice, except in an emergency.
Part 3. Termination
Article 6. Either party may end a periodic tenancy by written notice of not less than one full rental period.
Article 7. The security deposit shall be returned within thirty days after the tenancy ends, less any amount needed to repair damage beyond normal wear and tear, with a written statement of the deductions.
"""

MEDICAL_RECORDS = [
    {"title": "Hand hygiene",
     "text": "Washing hands with soap and water for at least twenty seconds removes most germs from the "
             "skin. Alcohol-based hand rubs with at least 60 percent alcohol are an alternative when soap "
             "and water are not available, but they do not remove visible dirt."},
    {"title": "Signs of dehydration",
     "text": "Early signs of dehydration include thirst, a dry mouth, dark yellow urine and tiredness. "
             "Infants and older adults are at higher risk, and vomiting or diarrhoea can cause fluid loss "
             "quickly. Small, frequent sips of water or an oral rehydration solution usually help."},
    {"title": "Measuring blood pressure at home",
     "text": "Blood pressure should be measured after five minutes of quiet rest, seated, with the back "
             "supported and the arm at heart level. Two readings taken a minute apart give a more "
             "reliable value than a single one."},
]

PATENT_SECTIONS = [
    ("GUTTER GUARD WITH HINGED MESH PANELS", []),
    ("FIELD OF THE INVENTION", [
        "The invention relates to covers for rain gutters, and more particularly to a gutter guard whose "
        "mesh panels can be lifted for cleaning without tools.",
    ]),
    ("BACKGROUND", [
        "Leaves and debris collect in open gutters and block the downspouts, so that water overflows and "
        "damages the walls and foundations of a building. Known covers are screwed to the gutter and "
        "must be removed entirely when debris passes through them.",
    ]),
    ("SUMMARY", [
        "A gutter guard according to the invention comprises a rail fixed along the front lip of the "
        "gutter and a series of mesh panels, each joined to the rail by a hinge, so that a single panel "
        "can be swung open for inspection while its neighbours stay in place.",
    ]),
    ("CLAIMS", [
        "1. A gutter guard comprising a rail adapted to be fixed to a gutter and a plurality of mesh "
        "panels, each panel being connected to the rail by a hinge.",
        "2. The gutter guard of claim 1, wherein each panel carries a latch that holds the panel closed "
        "against the rear wall of the gutter.",
    ]),
]

MATH_RECORDS = [
    {"problem": "Find all real numbers x with x^2 - 5x + 6 = 0.",
     "solution": "The polynomial factors as (x - 2)(x - 3), so x = 2 or x = 3."},
    {"problem": "Prove that the sum of two even integers is even.",
     "solution": "Write the integers as 2a and 2b. Their sum 2(a + b) is twice an integer, hence even."},
    {"problem": "What is the derivative of x sin(x)?",
     "solution": "By the product rule the derivative is sin(x) + x cos(x)."},
]

# --- classical Chinese -----------------------------------------------------------------------

TANG_POEMS = [  # 全唐诗 layout, Traditional characters
    {"author": "李白", "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"], "title": "靜夜思", "id": "sample-0001"},
    {"author": "孟浩然", "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"], "title": "春曉", "id": "sample-0002"},
    {"author": "王之渙", "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"], "title": "登鸛雀樓", "id": "sample-0003"},
]

SONG_CI = [  # 宋词 layout (tune name in `rhythmic`), Simplified characters; written gzipped
    {"author": "李清照", "paragraphs": ["昨夜雨疏风骤，浓睡不消残酒。", "试问卷帘人，却道海棠依旧。", "知否，知否？应是绿肥红瘦。"], "rhythmic": "如梦令"},
    {"author": "苏轼", "paragraphs": ["明月几时有？把酒问青天。", "不知天上宫阙，今夕是何年。", "我欲乘风归去，又恐琼楼玉宇，高处不胜寒。", "起舞弄清影，何似在人间。"], "rhythmic": "水调歌头"},
]

SANZIJING = {  # 蒙学 layout: works nested under `content`
    "title": "三字经",
    "author": "王应麟",
    "tags": "蒙学",
    "content": [
        {"chapter": "第一", "paragraphs": ["人之初，性本善。性相近，习相远。", "苟不教，性乃迁。教之道，贵以专。"]},
        {"chapter": "第二", "paragraphs": ["昔孟母，择邻处。子不学，断机杼。", "窦燕山，有义方。教五子，名俱扬。"]},
    ],
}

POETRY_AUTHORS = [  # no body field: skipped and counted
    {"name": "李白", "desc": "唐代诗人，字太白，号青莲居士。"},
    {"name": "苏轼", "desc": "北宋文学家，字子瞻，号东坡居士。"},
]

NIUTRANS_CHAPTERS = {  # chapter -> (classical source lines, modern target lines), line-aligned
    "学而篇": (
        [
            "子曰：学而时习之，不亦说乎？有朋自远方来，不亦乐乎？人不知而不愠，不亦君子乎？",
            "有子曰：其为人也孝弟，而好犯上者，鲜矣；不好犯上，而好作乱者，未之有也。",
            "君子务本，本立而道生。孝弟也者，其为仁之本与！",
            "子曰：巧言令色，鲜矣仁！",
            "曾子曰：吾日三省吾身：为人谋而不忠乎？与朋友交而不信乎？传不习乎？",
        ],
        [
            "孔子说：学了知识并按时温习，不也很愉快吗？有志同道合的人从远方来，不也很快乐吗？别人不了解我，我却不恼怒，不也是君子吗？",
            "有子说：孝顺父母、敬爱兄长的人却喜欢冒犯上级，这样的人很少；不喜欢冒犯上级却喜欢造反作乱的人，从来没有过。",
            "君子致力于根本，根本确立了，道也就产生了。孝顺父母、敬爱兄长，大概就是仁的根本吧！",
            "孔子说：花言巧语、装出和善面孔的人，很少有仁德。",
            "曾子说：我每天多次反省自己：替别人办事是否尽心尽力？和朋友交往是否诚实守信？老师传授的学问是否温习了？",
        ],
    ),
    "为政篇": (
        [
            "子曰：为政以德，譬如北辰，居其所而众星共之。",
            "子曰：诗三百，一言以蔽之，曰：思无邪。",
            "子曰：吾十有五而志于学，三十而立，四十而不惑，五十而知天命，六十而耳顺，七十而从心所欲，不逾矩。",
        ],
        [
            "孔子说：用道德来治理国家，就像北极星处在自己的位置上，群星都环绕着它。",
            "孔子说：《诗经》三百篇，用一句话来概括，就是思想纯正。",
            "孔子说：我十五岁立志学习，三十岁能自立，四十岁不再迷惑，五十岁懂得天命，六十岁能听得进各种意见，七十岁随心所欲也不越出规矩。",
        ],
    ),
}
