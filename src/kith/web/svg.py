"""Charts drawn on the server as SVG: no chart library, readable without JavaScript, and every
label escaped. Each chart carries a ``<title>`` and a text table is shown beside it for screen
readers (``role="img"`` with ``aria-labelledby``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from markupsafe import Markup

BAR_H, GAP, LABEL_W, WIDTH = 26, 8, 150, 640


def _num(v: Decimal | int | float) -> str:
    return f"{float(v):,.0f}"


def funnel(title: str, rows: Sequence[tuple[str, int, Decimal]], currency: str, chart_id: str) -> Markup:
    """Horizontal bars, one per stage: width by deal count, labelled ``count · value``."""
    top = max((count for _, count, _ in rows), default=0) or 1
    height = max(1, len(rows)) * (BAR_H + GAP) + GAP
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-t" '
             f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-t">{escape(title)}</title>']
    span = WIDTH - LABEL_W - 170
    for i, (name, count, value) in enumerate(rows):
        y = GAP + i * (BAR_H + GAP)
        w = max(2, int(span * count / top)) if count else 0
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end" font-size="13">{escape(name)}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{w}" height="{BAR_H}" rx="4" fill="#2456d6" '
                     f'opacity="{0.55 + 0.45 * (1 - i / max(1, len(rows)))}"></rect>')
        parts.append(f'<text x="{LABEL_W + w + 6}" y="{y + 17}" font-size="12" fill="#1d2330">'
                     f'{count} · {_num(value)} {escape(currency)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(title: str, rows: Sequence[tuple[str, Decimal, Decimal]], currency: str, chart_id: str,
            legend: tuple[str, str] = ("weighted", "best case")) -> Markup:
    """Paired vertical bars per label (e.g. month: weighted and best-case value)."""
    top = max((max(a, b) for _, a, b in rows), default=Decimal(0)) or Decimal(1)
    n = max(1, len(rows))
    height, base = 220, 180
    slot = (WIDTH - 40) / n
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-t" '
             f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-t">{escape(title)}</title>',
             f'<line x1="30" y1="{base}" x2="{WIDTH - 10}" y2="{base}" stroke="#b8bfcc"></line>']
    bar = max(4.0, min(28.0, slot / 3))
    for i, (label, a, b) in enumerate(rows):
        x = 34 + i * slot
        for j, (v, colour) in enumerate(((a, "#2456d6"), (b, "#9bb5f0"))):
            h = float(v / top) * (base - 20)
            parts.append(f'<rect x="{x + j * (bar + 2):.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(label)} {escape(legend[j])}: {_num(v)} '
                         f'{escape(currency)}</title></rect>')
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" font-size="11">{escape(label)}</text>')
    parts.append(f'<text x="34" y="14" font-size="11" fill="#2456d6">■ {escape(legend[0])}</text>'
                 f'<text x="140" y="14" font-size="11" fill="#6f8fdc">■ {escape(legend[1])}</text></svg>')
    return Markup("".join(parts))
