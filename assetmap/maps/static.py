"""A static PNG of the same map content, for reports (matplotlib, Agg, no network).

Same palette and privacy rules as the HTML map: the content comes from
:func:`assetmap.maps.builder.prepare_content`, so personal rows appear only as published
counts per area; no personal string reaches the image or its metadata.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from assetmap._io import atomic_open
from assetmap.maps.builder import ATTRIBUTION, MapContent, prepare_content
from assetmap.maps.choropleth import (
    FILL_OPACITY,
    NO_DATA_COLOUR,
    NO_DATA_HATCH,
    Choropleth,
    prepare_choropleth,
)
from assetmap.maps.layers import CELL_CLASSES, cell_classes
from assetmap.maps.legend import category_colour, category_label, palette, rule_colours
from assetmap.schema import MACRO_CATEGORIES, MICRO_CATEGORIES

__all__ = ["save_png"]

#: Web Mercator: the projection of the HTML map's tiles, so both look alike.
_PLOT_CRS: Final = "EPSG:3857"
_TAG: Final = re.compile(r"<[^>]+>")


def _plain(html_text: str) -> str:
    """Attribution HTML as plain text for the image (constants only: tags and &copy;)."""
    return _TAG.sub("", html_text).replace("&copy;", "©")


def _to_plot(geoms: np.ndarray) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(_PLOT_CRS)


def _points(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    series = _to_plot(shapely.points(frame["lon"].to_numpy(), frame["lat"].to_numpy()))
    return series.x.to_numpy(), series.y.to_numpy()


def _draw_cells(ax: Any, content: MapContent) -> list[Any]:
    from matplotlib.colors import to_rgba_array
    from matplotlib.patches import Patch

    handles: list[Any] = []
    privacy = content.privacy
    if privacy is None or not len(privacy.cells) or "total" not in privacy.cells:
        return handles
    cells = privacy.cells.loc[~privacy.cells.geometry.isna()]
    if not len(cells):
        return handles
    categories = [
        c for c in cells.columns if c not in ("area_id", "area_name", "method", "geometry", "total")
    ]
    colour = category_colour(str(categories[0])) if len(categories) == 1 else "#555555"
    classes = cell_classes(cells["total"])
    opacity = np.array([fill for _, fill in CELL_CLASSES])[classes]
    faces = to_rgba_array(np.where(classes == 2, palette()["suppressed"], colour).tolist())
    faces[:, 3] = opacity  # per-cell opacity through the face colours (plot takes one alpha)
    _to_plot(cells.geometry.to_numpy()).plot(
        ax=ax, facecolor=faces, edgecolor=colour, linewidth=0.4, zorder=1
    )
    label = "Residents: published counts per area (<8 = 1–7)"
    handles.append(Patch(facecolor=colour, alpha=0.5, edgecolor=colour, label=label))
    return handles


def _draw_catchments(ax: Any, content: MapContent) -> list[Any]:
    from matplotlib.colors import to_rgba_array
    from matplotlib.patches import Patch

    frame = content.catchments
    if frame is None or not len(frame):
        return []
    bands = np.sort(frame["band_minutes"].dropna().unique())
    opacity = {b: 0.3 - 0.22 * i / max(len(bands) - 1, 1) for i, b in enumerate(bands.tolist())}
    ids = content.macro.index.astype("str")
    colours = (
        pd.Series(
            [category_colour(str(c)) for c in content.macro["category"].tolist()],
            index=ids,
            dtype="str",
        )
        .reindex(frame["macro_id"])
        .fillna("#555555")
        .tolist()
    )
    rgba = to_rgba_array(colours)
    rgba[:, 3] = [opacity.get(b, 0.1) for b in frame["band_minutes"].tolist()]
    _to_plot(frame.geometry.to_numpy()).plot(
        ax=ax, facecolor=rgba, edgecolor=colours, linewidth=0.5, zorder=2
    )
    return [
        Patch(facecolor="#555555", alpha=opacity[b], label=f"catchment {b:g} min")
        for b in bands.tolist()
    ]


def _draw_links(ax: Any, content: MapContent) -> list[Any]:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    links = content.links
    if not len(links):
        return []
    start = _points(links.rename(columns={"x0": "lon", "y0": "lat"}))
    end = _points(links.rename(columns={"x1": "lon", "y1": "lat"}))
    segments = np.stack([np.column_stack(start), np.column_stack(end)], axis=1)
    rules = links["rule"].astype("str").to_numpy()
    within = links["within_reach"].to_numpy(dtype=bool)
    straight = links["mode"].astype("str").eq("euclidean").to_numpy()
    colour_of = rule_colours(rules.tolist())
    colours = [colour_of[r] for r in rules.tolist()]
    styles = ["--" if s else "-" for s in straight.tolist()]
    collection = LineCollection(
        list(segments),
        colors=colours,
        linewidths=np.where(within, 1.2, 0.6),
        alpha=0.6,
        linestyles=styles,
        zorder=3,
    )
    ax.add_collection(collection)
    return [
        Line2D([], [], color=colour, label=f"link: {rule}") for rule, colour in colour_of.items()
    ]


def _draw_points(
    ax: Any, frame: pd.DataFrame, vocabulary: Iterable[str], *, macro: bool
) -> list[Any]:
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    if not len(frame):
        return handles
    categories = frame["category"].astype("str")
    present = set(categories)
    order = [c for c in vocabulary if c in present] + sorted(present - set(vocabulary))
    for category in order:
        rows = frame.loc[categories == category]
        x, y = _points(rows)
        colour = category_colour(category)
        ax.scatter(
            x,
            y,
            s=60 if macro else 12,
            c=colour,
            edgecolors="#000000" if macro else palette()["outline"],
            linewidths=1.2 if macro else 0.4,
            zorder=6 if macro else 5,
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markersize=8 if macro else 5,
                markerfacecolor=colour,
                markeredgecolor="#000000",
                label=f"{category_label(category)} ({len(rows)})",
            )
        )
    return handles


def _draw_choropleth(ax: Any, choropleth: Choropleth) -> Any:
    """Areas filled by class, "no data" hatched; returns the choropleth's own small legend."""
    from matplotlib.legend import Legend
    from matplotlib.patches import Patch

    classes = choropleth.classes
    shapes = _to_plot(choropleth.areas.geometry.to_numpy())
    has = classes >= 0
    if has.any():
        faces = np.asarray(choropleth.colours, dtype=object)[classes[has]].tolist()
        shapes[has].plot(
            ax=ax, facecolor=faces, edgecolor="#555555", linewidth=0.3, alpha=FILL_OPACITY, zorder=0
        )
    if (~has).any():
        shapes[~has].plot(
            ax=ax,
            facecolor=NO_DATA_COLOUR,
            edgecolor=NO_DATA_HATCH,
            hatch="////",
            linewidth=0.3,
            zorder=0,
        )
    handles = [
        Patch(facecolor=colour, edgecolor="#555555", alpha=FILL_OPACITY, label=f"{text} ({n})")
        for text, colour, n in zip(
            choropleth.labels, choropleth.colours, choropleth.counts, strict=True
        )
    ]
    handles.append(
        Patch(
            facecolor=NO_DATA_COLOUR,
            edgecolor=NO_DATA_HATCH,
            hatch="////",
            label=f"no data ({choropleth.n_no_data})",
        )
    )
    # A Legend artist of its own, so the map's main legend (ax.legend) does not replace it.
    return Legend(
        ax,
        handles,
        [str(h.get_label()) for h in handles],
        title=choropleth.label,
        loc="upper left",
        fontsize=5,
        title_fontsize=6,
        framealpha=0.9,
    )


def _draw_footprints(ax: Any, content: MapContent) -> None:
    macro = content.macro
    if "footprint" not in macro or not len(macro):
        return
    shapes = np.asarray(macro["footprint"].to_numpy(), dtype=object)
    has = ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))
    if not has.any():
        return
    colours = [category_colour(str(c)) for c in macro.loc[has, "category"].tolist()]
    _to_plot(shapes[has]).plot(ax=ax, facecolor="none", edgecolor=colours, linewidth=1.2, zorder=4)


def save_png(
    micro: gpd.GeoDataFrame | None,
    macro: gpd.GeoDataFrame | None,
    path: str | os.PathLike[str],
    *,
    links: Any = None,
    catchments: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    title: str = "assetmap",
    dpi: int = 150,
    size_in: tuple[float, float] = (10.0, 8.0),
    link_limit: int = 2000,
    choropleths: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Draw the map's content as a PNG (Web Mercator, no basemap), written atomically.

    Parameters
    ----------
    micro, macro, links, catchments, areas, title, link_limit
        As for :func:`assetmap.maps.map`; personal rows only as published area counts.
    path
        Output ``.png``.
    dpi
        Resolution, dots per inch.
    size_in
        Figure width and height, inches.
    choropleths
        As for :func:`assetmap.maps.map`; every spec is checked, the first is drawn (a
        static image holds one fill), under everything else, with its own small legend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from assetmap import __version__

    if isinstance(choropleths, Mapping | str):
        msg = "choropleths must be a list of dicts (one per layer), e.g. [{'areas': …, 'column': …, 'label': …}]"
        raise TypeError(msg)
    prepared = [
        prepare_choropleth(spec, where=f"choropleths[{i}]") for i, spec in enumerate(choropleths)
    ]
    content = prepare_content(
        micro, macro, links=links, catchments=catchments, areas=areas, link_limit=link_limit
    )
    figure = Figure(figsize=size_in, dpi=dpi)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    handles: list[Any] = []
    if prepared:
        ax.add_artist(_draw_choropleth(ax, prepared[0].choropleth))
    if content.areas is not None and len(content.areas):
        _to_plot(content.areas.geometry.to_numpy()).plot(
            ax=ax, facecolor="none", edgecolor="#999999", linewidth=0.4, zorder=0
        )
    handles += _draw_cells(ax, content)
    handles += _draw_catchments(ax, content)
    handles += _draw_links(ax, content)
    _draw_footprints(ax, content)
    handles += _draw_points(ax, content.macro, MACRO_CATEGORIES, macro=True)
    handles += _draw_points(ax, content.micro, MICRO_CATEGORIES, macro=False)
    if len(content.macro) and "name" in content.macro:
        x, y = _points(content.macro)
        for xi, yi, name in zip(x, y, content.macro["name"].astype("str").tolist(), strict=True):
            ax.annotate(
                name, (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=6, zorder=7
            )
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=12)
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=6, framealpha=0.9)
    sources = list(content.sources)
    if prepared and "boundaries" not in sources:
        sources.append("boundaries")
    credits = "; ".join(_plain(ATTRIBUTION[key]) for key in sources)
    if credits:
        figure.text(0.01, 0.01, credits, fontsize=5, color="#444444", wrap=True)
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        dpi=dpi,
        metadata={"Title": title, "Software": f"assetmap {__version__}"},
    )
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())  # type: ignore[arg-type]
