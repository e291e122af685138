"""The same pipeline on a dask cluster: geocode, link and assign partition by partition.

Each function here cuts its input into partitions, runs the public in-memory function
(:func:`assetmap.geocode.geocode`, :func:`assetmap.links.link`,
:func:`assetmap.areas.assign`) on every partition on the workers of a ``distributed``
cluster, and puts the pieces back together in the order the in-memory call gives: the
result is identical to the in-memory call (same rows, ids, values and dtypes).

Partitioning (DESIGN §8):

* ``geocode`` sorts rows by postcode area (the first two characters of the postcode) when the
  frame has postcodes, else by a spatial key of their geometry, and cuts that order into
  partitions of equal row counts; the postcode directory is opened once per worker process.
* ``link`` and ``assign_areas`` sort the micro-assets (points) by a spatial key — a Z-order
  (geohash-style) interleaving of their coordinates, which groups nearby rows as
  ``dask_geopandas``' ``spatial_shuffle(by="hilbert")`` does — and send the small side
  (macro-assets, areas, street network) to every worker once.

The frames come from the caller's memory, so the key is computed here and each partition is
sent straight to a worker; a shuffle inside the cluster would move the same rows again.
Point columns travel as coordinate arrays (pickling geometries costs a GEOS call per row).

A cluster: :func:`client` starts a :class:`distributed.LocalCluster` (worker processes on
this machine) or connects to a running scheduler. Without one, each call uses the current
default client, else starts a two-worker LocalCluster for the length of the call.
Needs the extra ``scale`` (``pip install "assetmap[scale]"``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from assetmap import _paths, schema
from assetmap._errors import GeocodeError
from assetmap._optional import require

if TYPE_CHECKING:
    from distributed import Client

    from assetmap.links import LinkTable
    from assetmap.postcodes import PostcodeDirectory

__all__ = [
    "ROWS_PER_PARTITION",
    "ROWS_PER_SPATIAL_PARTITION",
    "assign_areas",
    "client",
    "geocode",
    "link",
    "partitions",
]

log = logging.getLogger(__name__)

#: Rows per partition of ``geocode`` when ``npartitions`` is not given (bounds a worker's
#: memory: about 0.9 GB at this size with the GB directory open).
ROWS_PER_PARTITION: Final = 200_000
#: Rows per partition of ``link`` and ``assign_areas``: each call has a fixed cost (CRS
#: transformers, a KD-tree), and these rows are light.
ROWS_PER_SPATIAL_PARTITION: Final = 500_000
#: Fewest rows worth a partition of their own when spreading work over the workers.
MIN_ROWS_PER_PARTITION: Final = 10_000
#: Workers of the LocalCluster started when no client is given.
DEFAULT_WORKERS: Final = 2

Positions = npt.NDArray[np.int64]
T = TypeVar("T")


# --------------------------------------------------------------------------- the cluster


@contextlib.contextmanager
def client(
    scheduler: str | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    memory_limit: str | float | None = "4GB",
    threads_per_worker: int = 1,
    dashboard_address: str | None = None,
) -> Iterator[Client]:
    """A ``distributed.Client`` for the scale functions, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``. Start one with
        ``dask scheduler`` on one machine and ``dask worker tcp://10.0.0.5:8786
        --nworkers 2 --nthreads 1 --memory-limit 4GB`` on each worker machine. Every worker
        needs assetmap installed; a postcode directory given as a path must be readable at
        the same path on the workers, as must this machine's index cache folder (a shared
        folder) — else pass a ``PostcodeDirectory``, which is sent to every worker. ``None``
        starts a LocalCluster on this machine.
    workers
        Worker processes of the LocalCluster (ignored with ``scheduler``).
    memory_limit
        Memory per worker of the LocalCluster, e.g. ``"4GB"`` (``None``: no limit).
    threads_per_worker
        Threads per LocalCluster worker; 1 keeps pandas/shapely work in separate processes.
    dashboard_address
        Where to serve the LocalCluster's diagnostics dashboard, e.g. ``":8787"``;
        ``None`` serves none (and takes no port).

    Examples
    --------
    >>> from assetmap import scale
    >>> with scale.client(workers=2) as cluster:          # doctest: +SKIP
    ...     placed = scale.geocode(assets, postcodes="codepo_gb.zip", client=cluster)
    ...     links = scale.link(placed.assets, sites, k=1, client=cluster)

    Raises
    ------
    MissingDependencyError
        ``distributed``/``dask_geopandas`` are not installed (extra ``scale``).
    ValueError
        ``workers`` or ``threads_per_worker`` is not a whole number ≥ 1.
    """
    distributed = _require_scale()
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    for label, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            msg = f"{label} must be a whole number ≥ 1, got {value!r}"
            raise ValueError(msg)
    with warnings.catch_warnings():
        if dashboard_address is None:
            # no dashboard: the scheduler's other HTTP routes may take any free port
            warnings.filterwarnings(
                "ignore", message=r"Port \d+ is already in use", category=UserWarning
            )
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=dashboard_address,
        )
    with cluster, distributed.Client(cluster) as local:
        yield local


def _require_scale() -> Any:
    """The ``distributed`` module; fails naming the extra when a scale dependency is missing.

    Typed ``Any``: ``distributed`` ships no type hints.
    """
    require("dask_geopandas", "scale")
    return require("distributed", "scale")


@contextlib.contextmanager
def _session(given: Client | str | None) -> Iterator[Any]:
    """The client to use: the one given, an address, the current default, or a new one."""
    distributed = _require_scale()
    if isinstance(given, str):
        with client(given) as connected:
            yield connected
        return
    if given is not None:
        yield given
        return
    try:
        current = distributed.default_client()
    except ValueError:
        log.info(
            "assetmap.scale: starting a %d-worker LocalCluster for this call "
            "(use `with assetmap.scale.client() as c:` and pass client=c to reuse one)",
            DEFAULT_WORKERS,
        )
        with client(workers=DEFAULT_WORKERS) as local:
            yield local
        return
    yield current


def _threads(dask_client: Any) -> int:
    """Total worker threads of the cluster (at least 1)."""
    threads: dict[str, int] = dask_client.nthreads()
    return max(1, sum(threads.values()))


# --------------------------------------------------------------------------- partitions


def partitions(
    n_rows: int,
    *,
    npartitions: int | None = None,
    threads: int = 1,
    rows_per_partition: int = ROWS_PER_PARTITION,
) -> int:
    """How many partitions to cut ``n_rows`` rows into.

    Parameters
    ----------
    n_rows
        Rows of the frame.
    npartitions
        The caller's choice; capped at ``n_rows`` (a partition is never empty).
    threads
        Worker threads of the cluster: by default there are at least as many partitions as
        threads (when each keeps :data:`MIN_ROWS_PER_PARTITION` rows).
    rows_per_partition
        Largest partition by default.

    Raises
    ------
    ValueError
        ``npartitions`` is not a whole number ≥ 1.
    """
    if npartitions is not None:
        if isinstance(npartitions, bool) or not isinstance(npartitions, int | np.integer):
            msg = f"npartitions must be a whole number ≥ 1, got {npartitions!r}"
            raise ValueError(msg)
        if npartitions < 1:
            msg = f"npartitions must be a whole number ≥ 1, got {npartitions!r}"
            raise ValueError(msg)
        return max(1, min(int(npartitions), n_rows))
    by_size = math.ceil(n_rows / rows_per_partition)
    spread = min(threads, math.ceil(n_rows / MIN_ROWS_PER_PARTITION))
    return max(1, by_size, spread)


def _cuts(order: Positions, count: int) -> list[Positions]:
    """``order`` cut into ``count`` runs of (nearly) equal length, in order."""
    return [part for part in np.array_split(order, count) if part.size]


def _spatial_key(frame: _Packed | pd.DataFrame) -> npt.NDArray[np.int64]:
    """Z-order (geohash-style) key of each row's geometry; -1 where there is no location.

    Each point (or the centre of a geometry's bounds) is quantised to 16 bits per axis over
    the frame's extent and the bits of x and y are interleaved, as a geohash does: a run of
    consecutive keys is a compact patch of ground. It serves the purpose of ``dask_geopandas``'
    Hilbert ``spatial_shuffle`` at a fraction of the cost for points, whose packed
    coordinates it reuses (no GEOS call per row).
    """
    xy = _locations(frame)
    key = np.full(len(xy), -1, dtype=np.int64)
    finite = np.asarray(np.isfinite(xy).all(axis=1), dtype=bool)
    if not finite.any():
        return key
    low = xy[finite].min(axis=0)
    span = np.maximum(xy[finite].max(axis=0) - low, np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        cells = np.clip((xy - low) / span * 65535.0, 0.0, 65535.0)
    cells = np.where(finite[:, None], cells, 0.0).astype(np.uint64)
    code = _spread_bits(cells[:, 0]) | (_spread_bits(cells[:, 1]) << np.uint64(1))
    key[finite] = code[finite].astype(np.int64)
    return key


def _locations(frame: _Packed | pd.DataFrame) -> npt.NDArray[np.float64]:
    """x/y of each row's active geometry (its bounds centre unless a point); NaN if none."""
    if isinstance(frame, _Packed):
        for name, _, xy, _ in frame.points:
            if name == frame.geometry:
                return xy
        frame = _unpack(frame)
    if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame:
        return np.full((len(frame), 2), np.nan)
    values = np.asarray(frame.geometry.array, dtype=object)
    xy = np.full((len(values), 2), np.nan)
    usable = ~(shapely.is_missing(values) | shapely.is_empty(values))
    if usable.any():
        bounds = shapely.bounds(values[usable])
        xy[usable] = (bounds[:, :2] + bounds[:, 2:]) / 2.0
    return xy


def _spread_bits(value: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The 16 low bits of each value moved to the even bit positions 0, 2, … 30."""
    value = value & np.uint64(0xFFFF)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        value = (value | (value << np.uint64(shift))) & np.uint64(mask)
    return value


def _postcode_area_key(text: pd.Series) -> npt.NDArray[np.int64]:
    """Code of each row's first two characters, upper-cased and sorted: the postcode area
    (with the district's first digit in one-letter areas); -1 where the postcode is empty."""
    first_two = text.str[:2].str.upper()
    codes, _ = pd.factorize(first_two.where(first_two != ""), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _order(key: npt.NDArray[np.int64]) -> Positions:
    """Row positions sorted by ``key`` (stable; rows without a key, -1, last)."""
    last = np.where(key < 0, np.iinfo(np.int64).max, key)
    return np.argsort(last, kind="stable").astype(np.int64)


# --------------------------------------------------------------------------- the wire


@dataclass(frozen=True)
class _Packed:
    """A frame on its way to or from a worker, its point columns as coordinate arrays.

    Pickling a geometry column goes through WKB, one GEOS call per geometry (about 3 µs a
    point); 2-D points travel as float64 coordinates instead and are rebuilt exactly.
    """

    frame: pd.DataFrame
    #: (column name, column position, x/y per row with NaN for a missing point, CRS)
    points: tuple[tuple[str, int, npt.NDArray[np.float64], Any], ...]
    #: Active geometry column of a GeoDataFrame, else None.
    geometry: str | None

    def __len__(self) -> int:
        return len(self.frame)


def _take(frame: _Packed | pd.DataFrame, rows: Positions) -> _Packed | pd.DataFrame:
    """The rows at ``rows`` of a packed or plain frame."""
    if not isinstance(frame, _Packed):
        return frame.take(rows)
    points = tuple((name, at, xy[rows], crs) for name, at, xy, crs in frame.points)
    return _Packed(frame=frame.frame.take(rows), points=points, geometry=frame.geometry)


def _pack(frame: pd.DataFrame) -> _Packed | pd.DataFrame:
    """``frame`` with its 2-D point columns as coordinates (other frames unchanged)."""
    if not isinstance(frame, gpd.GeoDataFrame) or not frame.columns.is_unique:
        return frame
    points = []
    for position, name in enumerate(frame.columns):
        column = frame[name]
        if not isinstance(column.dtype, gpd.array.GeometryDtype):
            continue
        values = np.asarray(column.array, dtype=object)
        present = ~shapely.is_missing(values)
        xy = np.full((len(values), 2), np.nan)
        if present.any():
            located = values[present]
            is_point = shapely.get_type_id(located) == shapely.GeometryType.POINT
            if not is_point.all() or shapely.has_z(located).any():
                continue
            coords = shapely.get_coordinates(located)
            if len(coords) != len(located) or not np.isfinite(coords).all():
                continue  # empty or NaN points: keep the geometries
            xy[present] = coords
        points.append((str(name), position, xy, column.crs))
    if not points:
        return cast(pd.DataFrame, frame)
    active = frame._geometry_column_name if frame._geometry_column_name in frame else None
    plain = pd.DataFrame(frame.drop(columns=[name for name, *_ in points]))
    return _Packed(frame=plain, points=tuple(points), geometry=active)


def _unpack(packed: _Packed | pd.DataFrame) -> pd.DataFrame:
    """The frame :func:`_pack` was given, rebuilt."""
    if not isinstance(packed, _Packed):
        return packed
    frame = packed.frame.copy(deep=False)  # copy-on-write: the packed frame stays as sent
    for name, position, xy, crs in packed.points:
        present = ~np.isnan(xy[:, 0])
        values = np.full(len(xy), None, dtype=object)
        values[present] = shapely.points(xy[present])
        frame.insert(position, name, gpd.GeoSeries(values, index=frame.index, crs=crs))
    rebuilt: pd.DataFrame = (
        gpd.GeoDataFrame(frame)
        if packed.geometry is None
        else gpd.GeoDataFrame(frame, geometry=packed.geometry)
    )
    return rebuilt


# --------------------------------------------------------------------------- running


def _run(
    dask_client: Any,
    task: Callable[..., T],
    frame: _Packed | pd.DataFrame,
    runs: Sequence[Positions],
    *,
    broadcast: Sequence[object] = (),
    small: Sequence[object] = (),
    finish: Callable[[T], T] | None = None,
    meanwhile: Callable[[], None] | None = None,
    progress: bool = False,
    label: str = "partitions",
) -> list[T]:
    """``task((rows, positions), *broadcast, *small)`` for each run of ``frame``'s rows.

    ``broadcast`` objects (frames, networks, directories) are sent to every worker once;
    ``small`` ones travel with each task. Each partition is sent to one worker (in turn) as
    soon as it is cut, so the workers start while the client cuts the rest; ``meanwhile``
    then runs on the client, and ``finish`` on each result as it arrives.
    """
    distributed = _require_scale()
    workers = sorted(dask_client.nthreads()) or [None]
    held: list[Any] = []
    try:
        # a list of one: scatter sends each list element whole (a dict is not split up)
        shared = [
            None if obj is None else dask_client.scatter([obj], broadcast=True, hash=False)[0]
            for obj in broadcast
        ]
        held += [s for s in shared if s is not None]
        pending: dict[Any, int] = {}
        for number, run in enumerate(runs):
            where = workers[number % len(workers)]
            [part] = dask_client.scatter(
                [(_take(frame, run), run)],
                hash=False,
                workers=None if where is None else [where],
            )
            future = dask_client.submit(task, part, *shared, *small, pure=False)
            held += [part, future]
            pending[future] = number
        if meanwhile is not None:
            meanwhile()
        results: list[Any] = [None] * len(runs)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(runs), desc=label, unit="partition")
        for future in distributed.as_completed(list(pending)):
            value = future.result()  # a worker's exception is raised here, as it was raised
            results[pending[future]] = value if finish is None else finish(value)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
    finally:
        dask_client.cancel(held)
    return results


def _restore(parts: Sequence[pd.DataFrame], positions: Sequence[Positions]) -> pd.DataFrame:
    """Concatenate partition outputs and sort their rows by input position (stable)."""
    kept = [(p, k) for p, k in zip(parts, positions, strict=True) if len(p)]
    if not kept:
        return parts[0]
    frames = [p for p, _ in kept]
    joined = frames[0] if len(frames) == 1 else pd.concat(frames)
    key = np.concatenate([k for _, k in kept])
    return joined.take(np.argsort(key, kind="stable"))


def _merged_notes(notes: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """Notes of every partition, each once, in first-seen order."""
    return tuple(dict.fromkeys(n for part in notes for n in part))


# --------------------------------------------------------------------------- geocode


@dataclass(frozen=True)
class _DirectoryFile:
    """A postcode directory each worker opens once: the file and the client's cache folder."""

    path: str
    cache_dir: str


_DIRECTORIES: dict[tuple[str, str, int, int], PostcodeDirectory] = {}
_DIRECTORIES_LOCK = threading.Lock()
#: Directories kept per worker process (each GB directory holds ~1.7M postcodes).
_DIRECTORIES_KEPT: Final = 2


def _open_directory(spec: _DirectoryFile) -> PostcodeDirectory:
    """The directory of ``spec``, opened once per process (reopened if the file changes)."""
    from assetmap.postcodes import PostcodeDirectory

    stat = os.stat(spec.path)
    key = (spec.path, spec.cache_dir, stat.st_mtime_ns, stat.st_size)
    with _DIRECTORIES_LOCK:
        found = _DIRECTORIES.get(key)
        if found is None:
            found = PostcodeDirectory.from_path(spec.path, cache_dir=Path(spec.cache_dir))
            while len(_DIRECTORIES) >= _DIRECTORIES_KEPT:
                _DIRECTORIES.pop(next(iter(_DIRECTORIES)))
            _DIRECTORIES[key] = found
        return found


@dataclass(frozen=True)
class _GeocodePart:
    assets: _Packed | pd.DataFrame
    asset_positions: Positions
    rejects: pd.DataFrame
    reject_positions: Positions
    notes: tuple[str, ...]


def _geocode_partition(
    part: tuple[_Packed | pd.DataFrame, Positions],
    directory: PostcodeDirectory | _DirectoryFile | None,
    options: dict[str, Any],
) -> _GeocodePart:
    """Worker side: :func:`assetmap.geocode.geocode` on one partition, rows tagged by position."""
    from assetmap.geocode import geocode as geocode_frame

    frame, positions = _unpack(part[0]), part[1]
    postcodes = _open_directory(directory) if isinstance(directory, _DirectoryFile) else directory
    register = geocode_frame(frame, postcodes=postcodes, **options)
    placed = frame.index.get_indexer(register.assets.index)
    unplaced = np.ones(len(frame), dtype=bool)
    unplaced[placed] = False
    expected = frame.index[unplaced].astype(str)
    got = register.rejects["asset_id"].astype(str).to_numpy()
    # geocode lists rejects in input order; fall back to matching ids if that ever changes.
    at = (
        np.flatnonzero(unplaced)
        if np.array_equal(expected.to_numpy(dtype=object), got.astype(object))
        else pd.Index(frame.index.astype(str)).get_indexer(got)
    )
    return _GeocodePart(
        assets=_pack(register.assets),
        asset_positions=positions[placed],
        rejects=register.rejects,
        reject_positions=positions[at],
        notes=register.notes,
    )


def geocode(
    assets: pd.DataFrame,
    *,
    postcodes: PostcodeDirectory | str | os.PathLike[str] | None = None,
    npartitions: int | None = None,
    client: Client | str | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> schema.Register:
    """:func:`assetmap.geocode.geocode` partition by partition on a dask cluster.

    Parameters
    ----------
    assets
        (Geo)DataFrame indexed by unique ``asset_id``, as for
        :func:`assetmap.geocode.geocode`. Never modified.
    postcodes
        A path to the directory file (``codepo_gb.zip``, a Code-Point or ONSPD CSV, an index
        ``.parquet``): each worker process opens it once from the index cached in this
        process's ``assetmap._paths.cache_dir()`` and keeps it for later calls. A
        :class:`~assetmap.postcodes.PostcodeDirectory` is sent to every worker once per
        call. ``None``: :meth:`PostcodeDirectory.default`, opened here only when some row
        has a postcode.
    npartitions
        Partitions to cut the rows into (default: see :func:`partitions`).
    client
        A ``distributed.Client``, a scheduler address, or ``None`` for the current default
        client (else a two-worker LocalCluster started for this call).
    progress
        Show a progress bar over the partitions.
    **kwargs
        Passed to :func:`assetmap.geocode.geocode` (``gazetteer``, ``fuzzy_threshold``,
        ``disagree_m``). ``online=True`` is refused: online providers are rate limited
        (Nominatim: one request a second) and must not be asked from many workers at once.

    Returns
    -------
    assetmap.schema.Register
        Identical to ``assetmap.geocode.geocode(assets, postcodes=postcodes, **kwargs)``:
        placed assets and rejects in input order, same columns, values and dtypes.

    Raises
    ------
    GeocodeError
        As the in-memory call, and for ``online=True``.
    MissingDependencyError
        The extra ``scale`` is not installed.
    """
    from assetmap.geocode import _sources, check_assets
    from assetmap.geocode import geocode as geocode_frame

    _require_scale()
    if kwargs.get("online"):
        msg = (
            "online=True cannot run on a cluster: postcodes.io and Nominatim are rate limited "
            "(Nominatim allows one request a second); geocode offline here, then pass the "
            "rejected rows to assetmap.geocode.geocode(..., online=True)"
        )
        raise GeocodeError(msg)
    check_assets(assets)
    options = dict(kwargs)
    if len(assets) == 0:
        return geocode_frame(assets, postcodes=postcodes, **options)
    text = (
        assets["postcode"].astype("string").fillna("")
        if "postcode" in assets
        else pd.Series("", index=assets.index, dtype="string")
    )
    has_postcode = (text.str.strip() != "").to_numpy(dtype=bool)
    directory = _directory_for_workers(postcodes) if has_postcode.any() else None
    packed = _pack(assets)
    key = _postcode_area_key(text) if has_postcode.any() else _spatial_key(packed)
    with _session(client) as dask_client:
        count = partitions(len(assets), npartitions=npartitions, threads=_threads(dask_client))
        runs = _cuts(_order(key), count)
        parts = _run(
            dask_client,
            _geocode_partition,
            packed,
            runs,
            broadcast=(directory,),
            small=(options,),
            finish=_unpack_assets,
            progress=progress,
            label="geocode",
        )
    return schema.Register(
        assets=_restore([_unpack(p.assets) for p in parts], [p.asset_positions for p in parts]),
        rejects=_restore(
            [p.rejects for p in parts], [p.reject_positions for p in parts]
        ).reset_index(drop=True),
        rows_in=len(assets),
        source=_sources(assets),
        notes=_merged_notes([p.notes for p in parts]),
    )


def _unpack_assets(part: _GeocodePart) -> _GeocodePart:
    """Rebuild a partition's geometries on the client as soon as it arrives."""
    return replace(part, assets=_unpack(part.assets))


def _directory_for_workers(
    postcodes: PostcodeDirectory | str | os.PathLike[str] | None,
) -> PostcodeDirectory | _DirectoryFile:
    """A path each worker opens (and keeps), or the directory object itself to send."""
    from assetmap.postcodes import PostcodeDirectory

    if postcodes is None:
        postcodes = PostcodeDirectory.default()
        if postcodes.path is not None and postcodes.path.is_file():
            return _DirectoryFile(str(postcodes.path.resolve()), _postcode_cache())
        return postcodes
    if isinstance(postcodes, str | os.PathLike):
        path = Path(postcodes)
        if not path.is_file():
            # the same error the in-memory call raises
            return PostcodeDirectory.from_path(path)
        return _DirectoryFile(str(path.resolve()), _postcode_cache())
    if not hasattr(postcodes, "lookup"):
        msg = (
            f"postcodes={type(postcodes).__name__} is neither a PostcodeDirectory nor a path "
            "(expected e.g. 'data/external/codepoint_gb/codepo_gb.zip')"
        )
        raise GeocodeError(msg)
    return postcodes


def _postcode_cache() -> str:
    return str(_paths.cache_dir() / "postcodes")


# --------------------------------------------------------------------------- link


@dataclass(frozen=True)
class _LinkPart:
    links: pd.DataFrame
    link_positions: Positions
    unreached: pd.DataFrame
    unreached_positions: Positions
    rules: tuple[Any, ...]
    notes: tuple[str, ...]


def _link_partition(
    part: tuple[_Packed | pd.DataFrame, Positions],
    macro: gpd.GeoDataFrame,
    network: Any,
    options: dict[str, Any],
) -> _LinkPart:
    """Worker side: :func:`assetmap.links.link` on one partition of micro-assets."""
    from assetmap.links import link as link_frames

    micro, positions = _unpack(part[0]), part[1]
    table = link_frames(micro, macro, network=network, **options)
    ids = pd.Index(micro.index.astype("str"))
    return _LinkPart(
        links=table.links,
        link_positions=positions[ids.get_indexer(table.links["micro_id"])],
        unreached=table.unreached,
        unreached_positions=positions[ids.get_indexer(table.unreached["micro_id"])],
        rules=table.rules,
        notes=table.notes,
    )


def link(
    micro: gpd.GeoDataFrame,
    macro: gpd.GeoDataFrame,
    *,
    k: int | None = None,
    within_m: float | None = None,
    npartitions: int | None = None,
    client: Client | str | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> LinkTable:
    """:func:`assetmap.links.link` over spatial partitions of the micro-assets on a cluster.

    Parameters
    ----------
    micro, macro
        Asset frames indexed by unique ``asset_id``, CRS EPSG:4326 or EPSG:27700, as for
        :func:`assetmap.links.link`. The micro-assets are partitioned by a spatial key of
        their geometry; the macro-assets (and a street network) go to every worker once.
    k, within_m
        As for :func:`assetmap.links.link` (``k`` nearest; reach in metres).
    npartitions
        Partitions of the micro-assets (default: see :func:`partitions`).
    client
        A ``distributed.Client``, a scheduler address, or ``None`` for the current default
        client (else a two-worker LocalCluster started for this call).
    progress
        Show a progress bar over the partitions.
    **kwargs
        Passed to :func:`assetmap.links.link` (``rules``, ``network``, ``mode``,
        ``max_minutes``, ``walk_kmh``, ``snap_tolerance_m``, ``decay``). A rules file or
        TOML text is parsed here once.

    Returns
    -------
    LinkTable
        Identical to ``assetmap.links.link(micro, macro, k=k, within_m=within_m, **kwargs)``:
        rows sorted by micro_id, rule, cost, macro_id; ``micro_ids`` in input order.

    Raises
    ------
    TypeError, ValueError, CRSError
        As the in-memory call.
    MissingDependencyError
        The extra ``scale`` is not installed.
    """
    from assetmap.links import LinkTable, check_crs
    from assetmap.links import link as link_frames
    from assetmap.rules import as_rules

    _require_scale()
    options: dict[str, Any] = {"k": k, "within_m": within_m, **kwargs}
    network = options.pop("network", None)
    for side, frame in (("micro", micro), ("macro", macro)):
        if not isinstance(frame, gpd.GeoDataFrame):
            msg = f"{side} must be a GeoDataFrame of assets, got {type(frame).__name__}"
            raise TypeError(msg)
    if not macro.index.is_unique:
        _refuse_duplicates("macro", macro.index)
    check_crs(micro, macro)
    if options.get("rules") is not None:
        options["rules"] = as_rules(options["rules"])
    if len(micro) == 0:
        return link_frames(micro, macro, network=network, **options)
    micro_ids = micro.index.astype("str")
    rank = np.empty(len(micro_ids), dtype=np.int64)

    def check_and_rank() -> None:
        # on the client while the workers compute: the check no partition can make (ids
        # unique across partitions) and the order link() sorts on (ids ranked as text)
        if not micro_ids.is_unique:
            raise _TextDuplicates
        rank[micro_ids.argsort()] = np.arange(len(micro_ids), dtype=np.int64)

    packed = _pack(micro)
    try:
        with _session(client) as dask_client:
            runs = _spatial_runs(
                packed, len(micro), npartitions=npartitions, dask_client=dask_client
            )
            parts = _run(
                dask_client,
                _link_partition,
                packed,
                runs,
                broadcast=(macro, network),
                small=(options,),
                meanwhile=check_and_rank,
                progress=progress,
                label="link",
            )
    except _TextDuplicates:
        if not micro.index.is_unique:
            _refuse_duplicates("micro", micro.index)
        # ids equal only as text (1 and "1") cannot be told apart across partitions
        return link_frames(micro, macro, network=network, **options)
    links = _by_rank([p.links for p in parts], [p.link_positions for p in parts], rank)
    unreached = _by_rank([p.unreached for p in parts], [p.unreached_positions for p in parts], rank)
    return LinkTable(
        links=links,
        unreached=unreached,
        micro_ids=micro_ids,
        rules=parts[0].rules,
        notes=_merged_notes([p.notes for p in parts]),
    )


class _TextDuplicates(Exception):
    """Some micro-asset ids are equal as text."""


def _refuse_duplicates(side: str, index: pd.Index) -> None:
    """Raise what :func:`assetmap.links.link` raises for repeated ids."""
    dup = index[index.duplicated()][0]
    msg = f"{side} asset ids must be unique; {str(dup)!r} appears more than once"
    raise ValueError(msg)


def _by_rank(
    parts: Sequence[pd.DataFrame], positions: Sequence[Positions], rank: Positions
) -> pd.DataFrame:
    """Partition outputs merged by micro-asset id rank; each partition's order kept within."""
    return _restore(parts, [rank[p] for p in positions]).reset_index(drop=True)


# --------------------------------------------------------------------------- areas


def _assign_partition(
    part: tuple[_Packed | pd.DataFrame, Positions], areas: gpd.GeoDataFrame, options: dict[str, Any]
) -> pd.Series:
    """Worker side: :func:`assetmap.areas.assign` on one partition of points."""
    from assetmap.areas import assign

    return assign(_unpack(part[0]), areas, **options)


def assign_areas(
    points: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_id: str,
    crs: str = schema.CRS_BNG,
    npartitions: int | None = None,
    client: Client | str | None = None,
    progress: bool = False,
) -> pd.Series:
    """:func:`assetmap.areas.assign` over spatial partitions of the points on a cluster.

    Parameters
    ----------
    points
        GeoDataFrame (any CRS); partitioned by a spatial key of its geometry.
    areas
        Polygons (any CRS), sent to every worker once; ``area_id`` names the id column.
    area_id
        Column of ``areas`` holding the id.
    crs
        CRS in which the point-in-polygon test is made (EPSG:27700 by default).
    npartitions
        Partitions of the points (default: see :func:`partitions`).
    client
        A ``distributed.Client``, a scheduler address, or ``None`` for the current default
        client (else a two-worker LocalCluster started for this call).
    progress
        Show a progress bar over the partitions.

    Returns
    -------
    pandas.Series
        Identical to ``assetmap.areas.assign(points, areas, area_id=area_id, crs=crs)``:
        aligned to ``points.index``, named ``area_id``, <NA> outside every area.

    Raises
    ------
    CRSError, ValueError
        As the in-memory call.
    MissingDependencyError
        The extra ``scale`` is not installed.
    """
    from assetmap.areas import assign

    _require_scale()
    options: dict[str, Any] = {"area_id": area_id, "crs": crs}
    if len(points) == 0 or not isinstance(points, gpd.GeoDataFrame):
        return assign(points, areas, **options)
    packed = _pack(points)
    with _session(client) as dask_client:
        runs = _spatial_runs(packed, len(points), npartitions=npartitions, dask_client=dask_client)
        parts = _run(
            dask_client,
            _assign_partition,
            packed,
            runs,
            broadcast=(areas,),
            small=(options,),
            progress=progress,
            label="assign",
        )
    frames = [p.to_frame() for p in parts]
    joined = _restore(frames, list(runs)).iloc[:, 0]
    return joined.set_axis(points.index)


def _spatial_runs(packed: Any, n_rows: int, *, npartitions: int | None, dask_client: Any) -> Any:
    """Row runs of spatially close points, one per partition (Z-order key, cut evenly)."""
    count = partitions(
        n_rows,
        npartitions=npartitions,
        threads=_threads(dask_client),
        rows_per_partition=ROWS_PER_SPATIAL_PARTITION,
    )
    return _cuts(_order(_spatial_key(packed)), count)
