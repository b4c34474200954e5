"""Small SVG charts drawn in Python, for a report that must open offline: no JavaScript, no fonts, no CDN.

Each function returns a `<figure class="plot">` holding one inline `<svg>` with a `<title>`. Every label comes from
the dataset, so every label is escaped.
"""

from __future__ import annotations

import math
from html import escape

FONT = 11
CHAR = 6.4  # average glyph width at FONT px in a sans-serif face; used to leave room for labels
BLUE, RED, GREEN, GREY = "#4c78a8", "#e45756", "#54a24b", "#9a9a9a"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _fmt(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"


def _text(x: float, y: float, s: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{FONT}"{extra}>'
            f"{escape(s)}</text>")


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    return (f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0))}" height="{_num(max(h, 0))}" '
            f'fill="{fill}">{title}</rect>')


def _clip(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def figure(title: str, width: float, height: float, body: list[str], note: str = "") -> str:
    t = escape(title)
    caption = f"{t}" + (f'<span class="note"> {escape(note)}</span>' if note else "")
    return (f'<figure class="plot"><figcaption>{caption}</figcaption>'
            f'<svg viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" height="{_num(height)}" '
            f'role="img" aria-label="{t}" font-family="sans-serif"><title>{t}</title>'
            + "".join(body) + "</svg></figure>")


def nice_step(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (axis steps that read well)."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= value)


def axis_ticks(largest: float, most: int = 5) -> list[float]:
    """0, step, 2 step, ... up to the first tick >= largest, with at most `most` steps."""
    step = nice_step(largest / most) if largest > 0 else 1.0
    if largest >= 1:
        step = max(step, 1.0)
    return [step * i for i in range(int(math.ceil(largest / step)) + 1 if largest > 0 else 2)]


def _no_data(width: float, height: float) -> list[str]:
    return [_rect(0, 0, width, height, "#f4f4f4"), _text(width / 2, height / 2, "no rows", "middle")]


def bar_chart(title: str, pairs: list[tuple[str, float]], *, color: str = BLUE, x_label: str = "",
              y_label: str = "rows", note: str = "") -> str:
    """Vertical bars, one per (label, value), in the given order; long or many labels are drawn slanted."""
    n = len(pairs)
    slant = n > 10 or any(len(lbl) > 6 for lbl, _ in pairs)
    label_room = (min(max((len(lbl) for lbl, _ in pairs), default=1), 18) * CHAR * 0.72 + 14) if slant else 18
    left, top, right = 52, 18, 12
    plot_w = max(260, min(760, n * 34))
    plot_h = 170
    width, height = left + plot_w + right, top + plot_h + label_room + (18 if x_label else 4)
    if not n:
        return figure(title, width, height, _no_data(width, height), note)
    ticks = axis_ticks(max(v for _, v in pairs))
    top_value = ticks[-1]
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>']
    for value in ticks:
        y = top + plot_h - plot_h * value / top_value
        body.append(f'<line x1="{left}" y1="{_num(y)}" x2="{left + plot_w}" y2="{_num(y)}" stroke="#e3e3e3"/>')
        body.append(_text(left - 5, y + 4, _fmt(value), "end"))
    step = plot_w / n
    bar = max(step * 0.75, 1)
    for i, (label, value) in enumerate(pairs):
        x = left + i * step + (step - bar) / 2
        h = plot_h * value / top_value
        body.append(_rect(x, top + plot_h - h, bar, h, color, f"{label}: {_fmt(value)}"))
        if n <= 24 and value:
            body.append(_text(x + bar / 2, top + plot_h - h - 3, _fmt(value), "middle", ' fill="#333" font-size="9"'))
        cx, ly = x + bar / 2, top + plot_h + 13
        if slant:
            body.append(_text(cx, ly, _clip(label, 18), "end", f' transform="rotate(-40 {_num(cx)} {_num(ly)})"'))
        else:
            body.append(_text(cx, ly, label, "middle"))
    if x_label:
        body.append(_text(left + plot_w / 2, height - 4, x_label, "middle", ' fill="#555"'))
    body.append(_text(12, top + plot_h / 2, y_label, "middle",
                      f' fill="#555" transform="rotate(-90 12 {_num(top + plot_h / 2)})"'))
    return figure(title, width, height, body, note)


def hbar_chart(title: str, pairs: list[tuple[str, float]], *, color: str = BLUE, note: str = "") -> str:
    """Horizontal bars, one row per (label, value), for long labels such as tool names and reason codes."""
    left = min(max((len(lbl) for lbl, _ in pairs), default=4), 34) * CHAR + 14
    row, plot_w, top = 18, 340, 6
    width, height = left + plot_w + 60, top + max(len(pairs), 1) * row + 8
    if not pairs:
        return figure(title, width, height, _no_data(width, height), note)
    top_value = max(v for _, v in pairs) or 1
    body = [f'<line x1="{_num(left)}" y1="{top}" x2="{_num(left)}" y2="{height - 6}" stroke="#333"/>']
    for i, (label, value) in enumerate(pairs):
        y = top + i * row
        w = plot_w * value / top_value
        body.append(_text(left - 6, y + row * 0.7, _clip(label, 34), "end"))
        body.append(_rect(left, y + 2, w, row - 5, color, f"{label}: {_fmt(value)}"))
        body.append(_text(left + w + 4, y + row * 0.7, _fmt(value), "start", ' fill="#333"'))
    return figure(title, width, height, body, note)


def stacked_hbar_chart(title: str, labels: list[str], series: list[tuple[str, list[float], str]],
                       note: str = "") -> str:
    """One horizontal bar per label, split into the series' segments (e.g. passed and rejected), with a legend."""
    left = min(max((len(lbl) for lbl in labels), default=4), 24) * CHAR + 14
    row, plot_w, top = 24, 400, 26
    width, height = left + plot_w + 110, top + max(len(labels), 1) * row + 10
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    if not labels or not max(totals, default=0):
        return figure(title, width, height, _no_data(width, height), note)
    top_value = max(totals)
    body = []
    x = left
    for name, _, color in series:  # legend
        body += [_rect(x, 6, 11, 11, color), _text(x + 15, 16, name)]
        x += 15 + len(name) * CHAR + 18
    for i, label in enumerate(labels):
        y = top + i * row
        body.append(_text(left - 6, y + row * 0.65, _clip(label, 24), "end"))
        x = left
        for name, values, color in series:
            w = plot_w * values[i] / top_value
            body.append(_rect(x, y + 3, w, row - 7, color, f"{label} {name}: {_fmt(values[i])}"))
            x += w
        parts = " / ".join(_fmt(values[i]) for _, values, _ in series)
        body.append(_text(x + 5, y + row * 0.65, parts, "start", ' fill="#333"'))
    return figure(title, width, height, body, note)


def _shade(share: float) -> str:
    """White to dark blue as the share of the largest cell goes from 0 to 1."""
    lo, hi = (247, 251, 255), (8, 69, 148)
    return "#" + "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(lo, hi))


def heat_map(title: str, row_labels: list[str], col_labels: list[str], grid: list[list[float]], *,
             row_title: str = "", col_title: str = "", note: str = "") -> str:
    """A grid of counts, darker for more; each cell prints its count."""
    cell_w, cell_h = 58, 34
    left, top = 64, 42
    width, height = left + max(len(col_labels), 1) * cell_w + 16, top + max(len(row_labels), 1) * cell_h + 10
    if not row_labels or not col_labels:
        return figure(title, width, height, _no_data(width, height), note)
    top_value = max(max(r) for r in grid) or 1
    body = [_text(left + len(col_labels) * cell_w / 2, 12, col_title, "middle", ' fill="#555"'),
            _text(12, top + len(row_labels) * cell_h / 2, row_title, "middle",
                  f' fill="#555" transform="rotate(-90 12 {_num(top + len(row_labels) * cell_h / 2)})"')]
    for j, label in enumerate(col_labels):
        body.append(_text(left + j * cell_w + cell_w / 2, top - 8, label, "middle"))
    for i, label in enumerate(row_labels):
        y = top + i * cell_h
        body.append(_text(left - 8, y + cell_h * 0.6, label, "end"))
        for j, value in enumerate(grid[i]):
            share = value / top_value
            x = left + j * cell_w
            body.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, _shade(share),
                              f"{row_title} {label}, {col_title} {col_labels[j]}: {_fmt(value)}"))
            ink = "#fff" if share > 0.5 else "#222"
            body.append(_text(x + cell_w / 2, y + cell_h * 0.6, _fmt(value), "middle", f' fill="{ink}"'))
    return figure(title, width, height, body, note)
