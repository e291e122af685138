"""The public API: lazy names, version, functions that share a name with their module."""

from __future__ import annotations

import subprocess
import sys

import assetmap as am


def test_version_comes_from_metadata() -> None:
    from importlib.metadata import version

    assert am.__version__ == version("assetmap")


def test_every_public_name_resolves() -> None:
    for name in am.__all__:
        assert getattr(am, name) is not None, name


def test_function_beats_its_submodule_whatever_the_import_order() -> None:
    code = (
        "import assetmap as am\n"
        "from assetmap.geocode import summary\n"
        "import assetmap.catchments\n"
        "am.membership\n"
        "assert callable(am.geocode) and callable(am.catchments), (am.geocode, am.catchments)\n"
        "import sys; assert sys.modules['assetmap.geocode'].summary is summary\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_is_light() -> None:
    code = "import sys, assetmap; heavy = {'folium', 'osmnx', 'scipy.sparse.csgraph'} & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_optional_dependency_names_the_extra(monkeypatch: object) -> None:
    from assetmap._optional import require

    try:
        require("surely_not_installed_module", "scale")
    except am.MissingDependencyError as exc:
        assert 'pip install "assetmap[scale]"' in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected MissingDependencyError")
