"""Inline SVG charts for the HTML report: drawn here, so the page needs no library or network.

Each function returns one `<svg>` element; colours come from the page's CSS classes, and
every bar carries a `<title>`, so hovering shows its exact count.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any


def horizontal_bars(rows: list[tuple[str, float, str]], width: int = 640) -> str:
    """One bar per (label, value, shown text), scaled to the largest value."""
    if not rows:
        return ""
    label_width, bar_height, gap = 250, 18, 4
    top = max(value for _, value, _ in rows) or 1
    span = width - label_width - 120
    height = len(rows) * (bar_height + gap)
    parts = []
    for index, (label, value, shown) in enumerate(rows):
        y = index * (bar_height + gap)
        length = max(1.0, span * value / top) if value else 0.0
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>'
            f'<rect class="bar" x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            f'<text x="{label_width + length + 6:.1f}" y="{y + 13}">{escape(shown)}</text>'
        )
    return _svg(width, height, "".join(parts))


def funnel_bars(rows: list[tuple[str, int, int]], width: int = 640) -> str:
    """Per stage (label, kept, dropped): a bar of its input, the dropped part in the
    second colour, scaled to the largest input."""
    if not rows:
        return ""
    label_width, bar_height, gap = 110, 18, 4
    top = max(kept + dropped for _, kept, dropped in rows) or 1
    span = width - label_width - 170
    parts = []
    for index, (label, kept, dropped) in enumerate(rows):
        y = index * (bar_height + gap)
        kept_w, dropped_w = span * kept / top, span * dropped / top
        shown = f"{kept:,} kept" + (f", {dropped:,} dropped" if dropped else "")
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>'
            f'<rect class="bar" x="{label_width}" y="{y}" width="{kept_w:.1f}" height="{bar_height}">'
            f"<title>{escape(label)}: {kept:,} kept</title></rect>"
            f'<rect class="dropped" x="{label_width + kept_w:.1f}" y="{y}" width="{dropped_w:.1f}" '
            f'height="{bar_height}"><title>{escape(label)}: {dropped:,} dropped</title></rect>'
            f'<text x="{label_width + kept_w + dropped_w + 6:.1f}" y="{y + 13}">{shown}</text>'
        )
    return _svg(width, len(rows) * (bar_height + gap), "".join(parts))


def histogram(data: dict[str, Any], width: int = 540, height: int = 170) -> str:
    """Bars over the histogram's fixed bins, empty bins at both ends trimmed; count bins are
    labelled under each bar, the others at their edges."""
    counts, edges = data["counts"], data["edges"]
    used = [i for i, count in enumerate(counts) if count]
    if not used:
        return '<p class="muted">no values</p>'
    first, last = used[0], used[-1]
    counts, edges = counts[first : last + 1], edges[first : last + 2]
    left, bottom, top_pad = 44, 34, 8
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    step = plot_w / len(counts)
    top = max(counts)
    parts = [
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}"/>',
        f'<text x="{left - 4}" y="{top_pad + 10}" text-anchor="end">{top:,}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    for index, count in enumerate(counts):
        bar_h = max(plot_h * count / top, 2.0) if count else 0.0  # a single document shows
        label = f"{bin_label(edges[index], edges[index + 1], data['scale'])}: {count:,}"
        parts.append(
            f'<rect class="bar" x="{left + index * step + 1:.1f}" y="{top_pad + plot_h - bar_h:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{bar_h:.1f}"><title>{escape(label)}</title></rect>'
        )
    if data["scale"] == "count":
        labels = [
            (left + (i + 0.5) * step, "middle", bin_label(edges[i], edges[i + 1], "count"))
            for i in range(len(counts))
        ]
    else:
        anchors = {0: "start", len(counts): "end"}
        labels = [
            (left + i * step, anchors.get(i, "middle"), number(edges[i]))
            for i in _ticks(edges, data["scale"])
        ]
    parts += [
        f'<text x="{x:.1f}" y="{height - 14}" text-anchor="{anchor}">{escape(text)}</text>'
        for x, anchor, text in labels
    ]
    return _svg(width, height, "".join(parts))


def mini_funnel(kept: list[int], width: int = 90, height: int = 18) -> str:
    """A sparkline of documents left after each stage, first stage's input = full height."""
    if not kept or not kept[0]:
        return ""
    step = width / len(kept)
    bars = "".join(
        f'<rect class="bar" x="{i * step:.1f}" y="{height * (1 - value / kept[0]):.1f}" '
        f'width="{max(step - 1, 1):.1f}" height="{height * value / kept[0]:.1f}"/>'
        for i, value in enumerate(kept)
    )
    return _svg(width, height, bars)


def _ticks(edges: list[float], scale: str) -> list[int]:
    """Edge indices to label: powers of ten on a log scale, else both ends and the middle."""
    if scale == "log":
        decades = [i for i, edge in enumerate(edges) if _whole(math.log10(edge))]
        if len(decades) >= 2:
            return decades[:: max(1, math.ceil(len(decades) / 6))]
    return sorted({0, (len(edges) - 1) // 2, len(edges) - 1})


def _whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-9


def bin_label(low: float, high: float, scale: str) -> str:
    if scale == "count":
        low, high = int(low), int(high) - 1
        return f"{low:,}" if low == high else f"{low:,}–{high:,}"
    return f"{number(low)}–{number(high)}"


def number(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value):,}"
    if abs(value) >= 1e6:
        return f"{value:.0e}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _clip(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(width: int, height: int, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{body}</svg>'
    )
