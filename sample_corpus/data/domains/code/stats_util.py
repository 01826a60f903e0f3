# Copyright (c) 2024 The TeleFLM Sample Authors
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
