"""Charts and the route map as PNG images, drawn with matplotlib's object API.

Pure module. ``matplotlib.figure.Figure`` with the Agg canvas is used directly (no pyplot), so
there is no global figure state and workers can draw in threads. DejaVu Sans is matplotlib's
default font, so Greek labels render without configuration.
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from reports.generators import fmt
from reports.generators.document import BarChart, RouteMap, TrendChart

DPI = 200
BAR_COLOURS = ("#2f6f9f", "#d08a2c", "#5b8c5a", "#8a5a9c")
INK = "#1f2933"
MUTED = "#6b7785"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _axis_formatter(language: str) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: fmt.number(value, 0, language))


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=INK, labelsize=7)
    ax.grid(axis="y", color="#dde3ea", linewidth=0.6)
    ax.set_axisbelow(True)


def _wrap(label: str, width: int = 16) -> str:
    """Break a long category name on spaces so it does not run into its neighbours."""
    words, lines, line = label.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "\n".join(lines[:3])


def bar_chart(chart: BarChart, *, width_in: float, height_in: float, language: str) -> bytes:
    """One panel per series (each has its own unit), categories along the x axis."""
    n = max(1, len(chart.series))
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    fig.suptitle(chart.title, fontsize=9, color=INK, fontweight="bold")
    axes = fig.subplots(1, n, squeeze=False)[0]
    labels = [_wrap(c) for c in chart.categories]
    for i, (ax, series) in enumerate(zip(axes, chart.series, strict=False)):
        _style(ax)
        xs = range(len(series.values))
        bars = ax.bar(xs, series.values, color=BAR_COLOURS[i % len(BAR_COLOURS)], width=0.6)
        ax.set_title(series.label, fontsize=8, color=INK)
        ax.set_xticks(list(xs), labels, fontsize=6.5, rotation=0)
        ax.yaxis.set_major_formatter(_axis_formatter(language))
        top = max(series.values, default=0) or 1
        ax.set_ylim(0, top * 1.15)
        for bar, value in zip(bars, series.values, strict=True):
            ax.annotate(
                fmt.number(value, 0, language),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6,
                color=INK,
                xytext=(0, 1.5),
                textcoords="offset points",
            )
    return _png(fig)


def trend_chart(chart: TrendChart, *, width_in: float, height_in: float, language: str) -> bytes:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    ax = fig.subplots()
    _style(ax)
    xs = list(range(len(chart.months)))
    ax.bar(xs, chart.bars.values, color=BAR_COLOURS[0], width=0.6, label=chart.bars.label)
    ax.set_ylabel(chart.bar_unit, fontsize=7, color=BAR_COLOURS[0])
    ax.set_xticks(xs, list(chart.months), fontsize=6.5)
    ax.yaxis.set_major_formatter(_axis_formatter(language))
    ax.set_title(chart.title, fontsize=9, color=INK, fontweight="bold")
    handles, names = ax.get_legend_handles_labels()
    if chart.line is not None:
        right = ax.twinx()
        right.plot(xs, chart.line.values, color=BAR_COLOURS[1], marker="o", markersize=3)
        right.set_ylabel(chart.line_unit, fontsize=7, color=BAR_COLOURS[1])
        right.tick_params(labelsize=7, colors=INK)
        right.yaxis.set_major_formatter(_axis_formatter(language))
        right.spines[["top"]].set_visible(False)
        right.set_ylim(bottom=0, top=(max(chart.line.values, default=0) or 1) * 1.15)
        line_handles, line_names = right.get_legend_handles_labels()
        handles += right.get_lines()[:1]
        names += [chart.line.label]
        del line_handles, line_names
    ax.set_ylim(bottom=0, top=(max(chart.bars.values, default=0) or 1) * 1.15)
    ax.legend(handles, names, fontsize=7, frameon=False, loc="upper left")
    return _png(fig)


def _scale_bar_m(span_m: float) -> float:
    """A round length close to a fifth of the map's width."""
    target = span_m / 5
    magnitude = 10 ** math.floor(math.log10(max(target, 1)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= target:
            return step * magnitude
    return 10 * magnitude


def route_map(
    chart: RouteMap,
    *,
    width_in: float,
    height_in: float,
    language: str,
) -> bytes:
    """Streets in grey, each track in colour, numbered start and end markers, a scale bar and
    the OpenStreetMap attribution. Longitude is scaled by cos(latitude) so shapes are true."""
    fig = Figure(figsize=(width_in, height_in))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    points = [p for track in chart.tracks for p in track] + [(m.lon, m.lat) for m in chart.markers]
    if not points:
        points = [p for street in chart.streets for p in street]
    if points:
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    else:
        west, east, south, north = 0.0, 0.001, 0.0, 0.001
    mid_lat = (south + north) / 2
    k = math.cos(math.radians(mid_lat))
    # Fit the box to the figure's aspect with a margin, so the route never touches the border.
    span_x = max((east - west) * k, 0.004)
    span_y = max(north - south, 0.004)
    aspect = width_in / height_in
    if span_x / span_y > aspect:
        span_y = span_x / aspect
    else:
        span_x = span_y * aspect
    span_x *= 1.12
    span_y *= 1.12
    cx, cy = (west + east) / 2 * k, (south + north) / 2
    ax.set_xlim(cx - span_x / 2, cx + span_x / 2)
    ax.set_ylim(cy - span_y / 2, cy + span_y / 2)
    ax.set_aspect("equal")
    if chart.streets:
        segments = [[(x * k, y) for x, y in street] for street in chart.streets if len(street) > 1]
        ax.add_collection(LineCollection(segments, colors="#c3cad3", linewidths=0.5, zorder=1))
    colours = ("#c0392b", "#2f6f9f", "#27864a", "#8a5a9c", "#d08a2c")
    for i, track in enumerate(chart.tracks):
        if len(track) < 2:
            continue
        ax.plot(
            [x * k for x, _ in track],
            [y for _, y in track],
            color=colours[i % len(colours)],
            linewidth=1.6,
            solid_capstyle="round",
            zorder=3,
        )
    for marker in chart.markers:
        face = {"start": "#27864a", "end": "#c0392b"}.get(marker.kind, "#2f6f9f")
        shape = "s" if marker.kind == "end" else "o"
        ax.scatter(
            [marker.lon * k],
            [marker.lat],
            s=70,
            color=face,
            marker=shape,
            zorder=4,
            edgecolors="white",
        )
        ax.annotate(
            marker.label,
            (marker.lon * k, marker.lat),
            ha="center",
            va="center",
            fontsize=5.5,
            color="white",
            fontweight="bold",
            zorder=5,
        )
    # Scale bar, bottom left: degrees of latitude are ~111.2 km everywhere.
    span_m = span_x * 111_195
    bar_m = _scale_bar_m(span_m)
    bar_deg = bar_m / 111_195
    x0 = cx - span_x / 2 + span_x * 0.04
    y0 = cy - span_y / 2 + span_y * 0.05
    ax.plot([x0, x0 + bar_deg], [y0, y0], color=INK, linewidth=2, zorder=6)
    text = f"{fmt.number(bar_m / 1000, 1, language)} km" if bar_m >= 1000 else f"{bar_m:.0f} m"
    ax.annotate(text, (x0, y0), xytext=(0, 3), textcoords="offset points", fontsize=6, color=INK)
    ax.text(
        0.995,
        0.005,
        chart.attribution,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6,
        color=INK,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
        zorder=7,
    )
    if not chart.tracks and chart.empty_text:
        ax.text(0.5, 0.5, chart.empty_text, transform=ax.transAxes, ha="center", fontsize=9)
    # The frame is drawn just inside the picture: a line on its very edge is cut in half.
    ax.add_patch(
        Rectangle(
            (0.002, 0.002),
            0.996,
            0.996,
            transform=ax.transAxes,
            fill=False,
            edgecolor="#9aa5b1",
            linewidth=1,
            zorder=8,
        )
    )
    return _png(fig)
