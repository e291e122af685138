"""Which rows of an asset frame are personal, and their unit postcodes normalised for matching."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assetmap.postcodes import normalise_postcode, postcode_parts
from assetmap.schema import categories


def personal_mask(assets: pd.DataFrame) -> np.ndarray:
    """Boolean array: which rows are personal (``personal`` true; missing counts as true).

    A frame without a ``personal`` column falls back to the category vocabulary
    (``resident_skill``, ``community_researcher``).
    """
    if "personal" not in assets:
        personal_categories = [name for name, is_personal in categories().items() if is_personal]
        if "category" not in assets:
            return np.zeros(len(assets), dtype=bool)
        return assets["category"].isin(personal_categories).to_numpy()
    column = assets["personal"]
    try:
        flags = column.astype("boolean")
    except (TypeError, ValueError) as exc:
        msg = f"column 'personal' holds {column.dtype} values that are not true/false"
        raise ValueError(msg) from exc
    # A row whose flag is unknown is treated as personal: the safe side.
    return flags.fillna(True).to_numpy(dtype=bool)


def _normalise_postcodes(values: pd.Series) -> pd.Series:
    """Normalised unit postcodes (``"B66 2QT"``), <NA> where not a valid unit postcode."""
    unit = postcode_parts(normalise_postcode(values))["unit"]
    return unit.where(unit != "", pd.NA)
