"""Distance-decay weights of travel cost for the access scores (named kinds, bands, callables)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from assetmap.rules import DECAY_KINDS
from assetmap.rules import decay as decay_scores

FloatArray = npt.NDArray[np.float64]
Decay = str | Callable[[FloatArray], npt.ArrayLike] | None

#: Decay kinds accepted by name: those of :mod:`assetmap.rules` plus step ``bands``.
DECAYS: Final = (*DECAY_KINDS, "bands")
#: E2SFCA weights by default (cost ≤ 10 → 1, ≤ 20 → 0.68, ≤ 30 → 0.22, beyond → 0), in the
#: cost's unit (minutes) — the default of PySAL ``access``'s ``enhanced_two_stage_fca``.
DEFAULT_BANDS: Final[Mapping[float, float]] = {10.0: 1.0, 20.0: 0.68, 30.0: 0.22}


def weight_function(
    decay: Decay,
    *,
    max_cost: float | None = None,
    reach: float | None = None,
    half_life: float | None = None,
    sigma: float | None = None,
    bands: Mapping[float, float] | None = None,
) -> Callable[[FloatArray], FloatArray]:
    """A vectorised weight function of travel cost (1 at zero cost for the named kinds).

    Parameters
    ----------
    decay
        ``None`` (weight 1), ``"step"`` (1 where ``cost <= reach``), ``"linear"``
        (``1 - cost/reach`` floored at 0), ``"exponential"`` (``0.5 ** (cost/half_life)``),
        ``"gaussian"`` (``exp(-cost² / 2σ²)``, as PySAL's ``weights.gaussian``), ``"bands"``
        (the weight of the first band limit ≥ cost, 0 beyond the last, as PySAL's
        ``weights.step_fn``), or a callable taking a float array of costs and returning an
        array of weights of the same shape.
    max_cost
        The catchment; the default ``reach`` of ``step`` and ``linear``.
    reach, half_life, sigma
        Parameters of the named kinds, in the cost's unit (minutes or metres).
    bands
        Band limit → weight for ``"bands"``, e.g. :data:`DEFAULT_BANDS`.

    Returns
    -------
    callable
        ``f(costs: ndarray) -> ndarray`` of float64 weights, finite and ≥ 0 (checked).
    """
    given = {
        name: value
        for name, value in (
            ("reach", reach),
            ("half_life", half_life),
            ("sigma", sigma),
            ("bands", bands),
        )
        if value is not None
    }
    wanted = {
        "step": "reach",
        "linear": "reach",
        "exponential": "half_life",
        "gaussian": "sigma",
        "bands": "bands",
    }
    if decay is None or callable(decay):
        if given:
            msg = f"{', '.join(given)} apply only to a named decay ({'|'.join(DECAYS)})"
            raise ValueError(msg)
        if decay is None:
            return lambda costs: np.ones(np.shape(costs), dtype=np.float64)
        return _checked(decay)
    if decay not in wanted:
        msg = f"decay {decay!r} is not one of {'|'.join(DECAYS)} (or a callable)"
        raise ValueError(msg)
    extra = sorted(set(given) - {wanted[decay]})
    if extra:
        msg = f"decay {decay!r} takes {wanted[decay]!r}, not {extra}"
        raise ValueError(msg)
    if decay == "bands":
        return _bands(bands if bands is not None else DEFAULT_BANDS)
    named = {"reach": reach, "half_life": half_life, "sigma": sigma}
    scale = named.get(wanted[decay])
    if scale is None and decay in ("step", "linear"):
        scale = max_cost
    if scale is None:
        if decay == "step":
            return lambda costs: np.ones(np.shape(costs), dtype=np.float64)
        msg = f"decay {decay!r} needs {wanted[decay]}=… (in the cost's unit)" + (
            " or max_cost" if decay == "linear" else ""
        )
        raise ValueError(msg)
    kind, parameter = str(decay), {wanted[decay]: float(scale)}
    # rules.decay validates the parameter (positive, finite) once, here, not per call.
    decay_scores(kind, np.zeros(1), **parameter)
    return lambda costs: decay_scores(kind, costs, **parameter)


def _bands(bands: Mapping[float, float]) -> Callable[[FloatArray], FloatArray]:
    if not bands:
        msg = "bands must map at least one band limit to a weight, e.g. {10: 1, 20: 0.68}"
        raise ValueError(msg)
    limits = np.array(sorted(bands), dtype=np.float64)
    weights = np.array([bands[k] for k in sorted(bands)], dtype=np.float64)
    if not (np.isfinite(limits).all() and np.isfinite(weights).all() and (weights >= 0).all()):
        msg = f"bands {dict(bands)!r}: limits and weights must be finite and weights ≥ 0"
        raise ValueError(msg)
    padded = np.append(weights, 0.0)

    def fn(costs: FloatArray) -> FloatArray:
        return padded[np.searchsorted(limits, costs, side="left")]

    return fn


def _checked(fn: Callable[[FloatArray], npt.ArrayLike]) -> Callable[[FloatArray], FloatArray]:
    def wrapped(costs: FloatArray) -> FloatArray:
        try:
            values = np.asarray(fn(costs), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = (
                f"the decay callable failed on an array of {costs.size} costs ({exc}); it must "
                "take a numpy array (wrap a scalar function with numpy.vectorize)"
            )
            raise ValueError(msg) from exc
        if values.shape != costs.shape:
            values = np.broadcast_to(values, costs.shape).astype(np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            msg = (
                f"the decay callable gave weight {values[first]!r} at cost {costs[first]!r} "
                "(expected a finite weight ≥ 0; e.g. clamp gravity costs away from 0)"
            )
            raise ValueError(msg)
        return values

    return wrapped
