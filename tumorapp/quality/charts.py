"""Server-rendered SVG charts for the quality dashboard.

No chart library and no script: each function returns SVG markup whose look comes from
classes in static/css/app.css (the CSP refuses inline styles). Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 34


def _svg(width: int, height: int, body: list[str], label: str, cls: str = "") -> SafeString:
    # Safe: every text that reaches the markup went through escape(); the rest are numbers.
    return mark_safe(  # noqa: S308
        f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, cls: str = "c-label", anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="{cls}"/>'


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _y_axis(top: float, bottom: float, left: float, right: float, ticks, fmt) -> list[str]:
    out = []
    for value, y in ticks:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="c-grid"/>')
        out.append(_text(left - 6, y + 4, fmt(value), "c-tick", "end"))
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" class="c-axis"/>')
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" class="c-axis"/>')
    return out


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    references: Sequence[tuple[str, str, float]] = (),
    y_min: float = 0.0,
    y_max: float = 1.0,
    label: str,
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """Lines over categorical x labels (weeks). ``series``: (name, css class, values);
    ``references``: horizontal dashed lines (name, css class, value)."""
    left, right, top, bottom = PAD_LEFT, width - PAD_RIGHT, PAD_TOP, height - PAD_BOTTOM
    span = (y_max - y_min) or 1.0

    def y_of(v: float) -> float:
        return bottom - (min(max(v, y_min), y_max) - y_min) / span * (bottom - top)

    n = max(len(labels), 1)
    step = (right - left) / n

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    ticks = [(y_min + span * k / 4, y_of(y_min + span * k / 4)) for k in range(5)]
    body = _y_axis(top, bottom, left, right, ticks, _pct)
    every = max(1, n // 8)
    for i, text in enumerate(labels):
        if i % every == 0:
            body.append(_text(x_of(i), bottom + 16, text, "c-tick"))
    for name, cls, value in references:
        y = y_of(value)
        body.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="c-ref {cls}"/>'
        )
        body.append(_text(left + 6, y - 4, name, f"c-ref-label {cls}", "start"))
    for _name, cls, values in series:
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" class="c-line {cls}"/>')
        for x, y in points:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="c-dot {cls}"/>')
    body.append(_legend([(name, cls) for name, cls, _ in series], left, height - 4))
    return _svg(width, height, body, label)


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    out = []
    for name, cls in items:
        out.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" class="c-key {cls}"/>'
        )
        out.append(_text(x + 14, y, name, "c-tick", "start"))
        x += 24 + 7 * len(name)
    return "".join(out)


def interval_bars(
    rows: Sequence[tuple[str, float | None, tuple[float, float] | None, str]],
    *,
    label: str,
    width: int = 420,
    row_height: int = 30,
) -> SafeString:
    """Horizontal bars of proportions with their 95 % interval as a whisker."""
    left, right = 110, width - 56
    height = PAD_TOP + row_height * len(rows) + 24
    body = []
    for k in range(5):
        x = left + (right - left) * k / 4
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" y2="{height - 22}" class="c-grid"/>'
        )
        body.append(_text(x, height - 6, _pct(k / 4), "c-tick"))
    for i, (name, value, ci, cls) in enumerate(rows):
        y = PAD_TOP + i * row_height
        body.append(_text(left - 8, y + row_height / 2 + 4, name, "c-label", "end"))
        if value is None:
            body.append(_text(left + 6, y + row_height / 2 + 4, "no cases", "c-tick", "start"))
            continue
        w = (right - left) * value
        body.append(
            f'<rect x="{left}" y="{y + 6}" width="{w:.1f}" height="{row_height - 12}" '
            f'rx="2" class="c-bar {cls}"/>'
        )
        if ci:
            x1, x2 = left + (right - left) * ci[0], left + (right - left) * ci[1]
            ym = y + row_height / 2
            body.append(_line(x1, ym, x2, ym, "c-whisker"))
            for x in (x1, x2):
                body.append(_line(x, ym - 5, x, ym + 5, "c-whisker"))
        body.append(_text(right + 6, y + row_height / 2 + 4, _pct(value), "c-value", "start"))
    return _svg(width, height, body, label)


def reliability_chart(bins: Sequence[dict], *, label: str, size: int = 280) -> SafeString:
    """Observed accuracy per confidence bin against the diagonal of perfect calibration."""
    left, right, top, bottom = PAD_LEFT, size - PAD_RIGHT, PAD_TOP, size - PAD_BOTTOM
    side = min(right - left, bottom - top)
    right, top = left + side, bottom - side
    ticks = [(k / 4, bottom - side * k / 4) for k in range(5)]
    body = _y_axis(top, bottom, left, right, ticks, _pct)
    for k in range(5):
        body.append(_text(left + side * k / 4, bottom + 16, _pct(k / 4), "c-tick"))
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{top}" class="c-diagonal"/>')
    width = side / len(bins)
    for i, b in enumerate(bins):
        if not b["n"]:
            continue
        h = side * b["accuracy"]
        body.append(
            f'<rect x="{left + i * width + 2:.1f}" y="{bottom - h:.1f}" width="{width - 4:.1f}" '
            f'height="{h:.1f}" class="c-bar c-series-1">'
            f"<title>{escape(_bin_title(b))}</title></rect>"
        )
        cx, cy = left + (i + 0.5) * width, bottom - side * b["confidence"]
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" class="c-dot c-series-2"/>')
    body.append(_text(left + side / 2, size - 4, "AI confidence in its class", "c-tick"))
    return _svg(size, size, body, label, "square")


def _bin_title(b: dict) -> str:
    return (
        f"{_pct(b['lo'])}-{_pct(b['hi'])}: {b['n']} cases, mean confidence "
        f"{_pct(b['confidence'])}, correct {_pct(b['accuracy'])}"
    )


def histogram_pair(
    tick_labels: Sequence[str],
    training: Sequence[float] | None,
    recent: Sequence[float],
    *,
    label: str,
    width: int = 300,
    height: int = 150,
) -> SafeString:
    """Shares per bin of recent scans (bars) over the training images' (outlined bars)."""
    left, right, top, bottom = 8, width - 8, 8, height - 22
    n = len(recent)
    peak = max(list(recent) + list(training or []) + [1e-9])
    step = (right - left) / n
    body = [f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" class="c-axis"/>']
    for i, share in enumerate(recent):
        h = (bottom - top) * share / peak
        body.append(
            f'<rect x="{left + i * step + 1:.1f}" y="{bottom - h:.1f}" width="{step - 2:.1f}" '
            f'height="{h:.1f}" class="c-bar c-series-1"/>'
        )
    if training is not None:
        for i, share in enumerate(training):
            h = (bottom - top) * share / peak
            body.append(
                f'<rect x="{left + i * step + 1:.1f}" y="{bottom - h:.1f}" width="{step - 2:.1f}" '
                f'height="{h:.1f}" class="c-outline"/>'
            )
    every = max(1, n // 5)
    for i, text in enumerate(tick_labels):
        if i % every == 0:
            body.append(_text(left + i * step, bottom + 14, text, "c-tick", "start"))
    return _svg(width, height, body, label)


def column_chart(
    columns: Sequence[tuple[str, float | None]],
    *,
    label: str,
    y_max: float | None = None,
    percent: bool = True,
    width: int = 640,
    height: int = 200,
) -> SafeString:
    """Vertical bars over categorical labels (weeks, readers)."""
    left, right, top, bottom = PAD_LEFT, width - PAD_RIGHT, PAD_TOP, height - PAD_BOTTOM
    values = [v for _, v in columns if v is not None]
    top_value = y_max if y_max is not None else max(values + [1e-9]) * 1.15
    fmt = _pct if percent else (lambda v: f"{v:.0f}")
    ticks = [(top_value * k / 4, bottom - (bottom - top) * k / 4) for k in range(5)]
    body = _y_axis(top, bottom, left, right, ticks, fmt)
    n = max(len(columns), 1)
    step = (right - left) / n
    every = max(1, n // 8)
    for i, (name, value) in enumerate(columns):
        x = left + i * step
        if i % every == 0:
            body.append(_text(x + step / 2, bottom + 16, name, "c-tick"))
        if value is None:
            continue
        h = (bottom - top) * min(value / top_value, 1.0)
        body.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{bottom - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" rx="2" class="c-bar c-series-1"><title>{escape(name)}: '
            f"{escape(fmt(value))}</title></rect>"
        )
    return _svg(width, height, body, label)
