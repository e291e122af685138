"""The analysts' notebooks: committed without outputs, and each one runs end to end.

Every notebook is executed with nbclient (kernel ``python3`` of this environment, working
directory the repository root) twice: once with no real data installed (the committed demo
data, straight lines, H3 cells) and once with the real open data (``@pytest.mark.data``: the
Rutland street network, the full postcode directory, LSOAs, IMD and Census). The outputs are
checked for errors, warnings, the documented figures, and for any personal data.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nbformat
import pandas as pd
import pytest
from conftest import ROOT, real_data
from nbclient import NotebookClient

import assetmap as am
from assetmap.privacy import scan_for_personal

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = (
    "01-register-and-geocode",
    "02-links-and-catchments",
    "03-equity-and-gaps",
    "04-build-a-map-bundle",
)
#: The real datasets the notebooks use when installed (relative to the data folder).
REAL_DATA = (
    "codepoint_gb/codepo_gb.zip",
    "osm_rutland/rutland-2022-07-20.osm.pbf",
    "boundaries/lsoa2011_birmingham_sandwell.geojson",
    "imd2019/IoD2019_domains_ranks_deciles_lsoa2011_england.csv",
    "census2021/census2021_usual_residents_by_age6_lsoa2021_ew.csv",
    "boundaries/wards_sandwell.geojson",
)
#: data/demo registers: (file, data rows, rows left after read_assets and geocode), README.
DEMO_REGISTERS = (
    ("residents_skills.csv", 308, 300),
    ("social_enterprises.csv", 128, 120),
    ("community_buildings.csv", 48, 40),
    ("community_researchers.csv", 93, 85),
    ("rutland_assets.csv", 48, 40),
)
CELL_TIMEOUT_S = 300


def _strip_module() -> ModuleType:
    path = ROOT / "scripts" / "strip_notebooks.py"
    spec = importlib.util.spec_from_file_location("strip_notebooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("strip_notebooks", module)
    spec.loader.exec_module(module)
    return module


strip_notebooks = _strip_module()


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _code_sources(name: str) -> list[str]:
    return [c.source for c in _read(name).cells if c.cell_type == "code"]


# ----------------------------------------------------------------------- committed notebooks


def test_the_four_notebooks_are_committed() -> None:
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == list(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert not strip_notebooks.strip_file(NOTEBOOK_DIR / f"{name}.ipynb", check_only=True)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_uses_only_the_public_api(name: str) -> None:
    code = "\n".join(_code_sources(name))
    assert "import assetmap as am" in code
    assert not re.search(r"\b(?:assetmap|am)\._(?!_)", code), "private assetmap names used"
    imports = re.findall(r"^\s*((?:from|import)\s+assetmap\b.*)$", code, flags=re.MULTILINE)
    assert imports == ["import assetmap as am"], imports
    # Outputs go to temporary folders, never into the working tree.
    assert "dist/" not in code and "to_csv(" not in code


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_tells_its_story_in_markdown(name: str) -> None:
    cells = _read(name).cells
    markdown = [c for c in cells if c.cell_type == "markdown"]
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    # Short explanations between the steps: at least one markdown cell per two code cells.
    assert 2 * len(markdown) >= len(cells) - len(markdown)


# ------------------------------------------------------------------------------- the stripper


def _dirty_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.9", "mimetype": "text/x-python"},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
        "vscode": {"interpreter": {"hash": "abc"}},
    }
    first = nbformat.v4.new_code_cell("print(1)")
    first.id = "cell-a"
    first.execution_count = 7
    first.metadata = {"tags": ["parameters"], "scrolled": True, "execution": {"iopub": "x"}}
    first.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=7),
    ]
    note = nbformat.v4.new_markdown_cell("# Title")
    note.id = "cell-b"
    note.metadata = {"collapsed": False}
    nb.cells = [note, first]
    return nb


def test_strip_removes_outputs_counts_and_noise_without_mutating() -> None:
    dirty = _dirty_notebook()
    before = json.dumps(dirty, sort_keys=True)
    clean = strip_notebooks.strip(dirty)
    assert json.dumps(dirty, sort_keys=True) == before, "strip() changed its input"
    nbformat.validate(clean)
    assert clean.metadata == {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    note, code = clean.cells
    assert (note.id, note.source, note.metadata) == ("cell-b", "# Title", {})
    assert (code.id, code.source) == ("cell-a", "print(1)")
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata == {"tags": ["parameters"]}
    assert strip_notebooks.strip(clean) == clean


def test_strip_file_rewrites_only_dirty_files_and_check_mode_reports(tmp_path: Path) -> None:
    path = tmp_path / "dirty.ipynb"
    nbformat.write(_dirty_notebook(), path)
    original = path.read_bytes()
    assert strip_notebooks.main(["--check", str(path)]) == 1
    assert path.read_bytes() == original, "--check must not write"
    assert strip_notebooks.main([str(path)]) == 0
    stripped = path.read_bytes()
    assert stripped != original and stripped.endswith(b"\n")
    assert not strip_notebooks.strip_file(path)
    assert path.read_bytes() == stripped
    assert strip_notebooks.main(["--check", str(path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["dirty.ipynb"], "temporary file left behind"


# ------------------------------------------------------------------------------- executing


def _install_real_data(folder: Path) -> Path:
    """A data folder holding links to the real datasets, as ``make data`` would install them.

    Links, not the mirror itself: whatever a run writes into its data folder stays in tmp_path.
    """
    for relpath in REAL_DATA:
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(real_data(relpath))
    return folder


@dataclass(frozen=True)
class Run:
    """How a notebook is run: ``mode`` "demo" (no real data) or "real"; ``tmp`` its TMPDIR."""

    mode: str
    tmp: Path


@pytest.fixture
def run(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The kernel's environment: the data folder of the mode, temporary files in tmp_path."""
    mode: str = request.param
    monkeypatch.delenv("ASSETMAP_DATA_MIRROR", raising=False)
    if mode == "real":
        monkeypatch.setenv("ASSETMAP_DATA_DIR", str(_install_real_data(tmp_path / "data")))
    else:
        monkeypatch.setenv("ASSETMAP_DATA_DIR", str(tmp_path / "no-data-installed"))
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return Run(mode, work)


def _execute(name: str) -> nbformat.NotebookNode:
    nb = _read(name)
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before, "the run wrote into notebooks/"
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict[str, str]]:
    """Per code cell: its stdout, stderr, text/plain and text/html, each joined."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts: dict[str, list[str]] = {"stdout": [], "stderr": [], "plain": [], "html": []}
        for out in cell.outputs:
            if out.output_type == "stream":
                parts[out.name].append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts["plain"].append(out.data.get("text/plain", ""))
                parts["html"].append(out.data.get("text/html", ""))
                if "image/png" in out.data:
                    parts["html"].append("<png>")
            elif out.output_type == "error":
                parts["stderr"].append(f"{out.ename}: {out.evalue}")
        cells.append({k: "".join(v) for k, v in parts.items()})
    return cells


@pytest.fixture(scope="module")
def every_register_row() -> pd.DataFrame:
    """Every row of the demo registers (personal or not), to scan the outputs against."""
    demo = ROOT / "data" / "demo"
    return pd.concat([am.read_assets(demo / f, kind="micro").assets for f, _, _ in DEMO_REGISTERS])


def _checked_outputs(
    nb: nbformat.NotebookNode, rows: pd.DataFrame, run: Run
) -> tuple[str, list[dict[str, str]]]:
    """All printed text of a run, after the checks every notebook must pass."""
    cells = _outputs(nb)
    problems = [c["stderr"] for c in cells if re.search(r"Traceback|Error|Warning", c["stderr"])]
    assert not problems, problems
    # Nothing shown may identify a resident: dump every output and scan it as a bundle is.
    dump = run.tmp.parent / "outputs"
    dump.mkdir()
    for i, cell in enumerate(cells):
        (dump / f"cell-{i:02d}.html").write_text("\n".join(cell.values()), encoding="utf-8")
    assert scan_for_personal([dump], rows) == []
    return "\n".join(c["stdout"] + c["plain"] for c in cells), cells


def _maps(cells: list[dict[str, str]]) -> int:
    """How many cells show a Leaflet map inline."""
    return sum("leaflet" in c["html"].lower() and "<iframe" in c["html"] for c in cells)


MODES = (
    pytest.param("demo", marks=pytest.mark.slow, id="demo"),
    pytest.param("real", marks=[pytest.mark.slow, pytest.mark.data], id="real"),
)


@pytest.mark.parametrize("run", MODES, indirect=True)
def test_01_register_and_geocode(run: Run, every_register_row: pd.DataFrame) -> None:
    text, cells = _checked_outputs(_execute("01-register-and-geocode"), every_register_row, run)
    for file, rows, good in DEMO_REGISTERS:
        line = f"{file}: {rows} rows in, {good} placed, 8 rejected (4 by read_assets, 4 by geocode)"
        assert line in text
    assert "documented bad rows: 40, rejected rows: 40, missing: [], unexpected: []" in text
    assert ("full Code-Point Open directory installed" in text) == (run.mode == "real")
    assert "RegisterError:" in text and "Organisation" in text
    assert "5 rows in, 4 accepted, 1 rejected" in text  # the mapped steward export
    assert "4 rows in, 3 accepted, 1 rejected" in text  # and its geocoding
    assert f"{run.tmp}/assetmap-notebook-01-" in text  # written to a temporary folder
    assert "rejects of personal registers (counted, not shown): 16" in text
    assert "160 non-personal assets on the map; 385 personal rows left out" in text
    assert _maps(cells) == 1


@pytest.mark.parametrize("run", MODES, indirect=True)
def test_02_links_and_catchments(run: Run, every_register_row: pd.DataFrame) -> None:
    text, cells = _checked_outputs(_execute("02-links-and-catchments"), every_register_row, run)
    assert "545 micro-assets placed (385 of them personal); 10 sites" in text
    assert "No street network of Greater Icknield is installed" in text
    assert "1006 links for 455 micro-assets; 90 unreached" in text
    assert "modes: {'euclidean': 1006}" in text
    assert "40 Rutland assets → Rutland Memorial Hospital" in text
    if run.mode == "real":
        assert "Rutland walking network: 8,118 nodes, 19,638 directed edges" in text
        # Uppingham Prayer Hall (ru-0002) is the nearest: 6.2 minutes on foot.
        assert "walking minutes to the hospital: {'min': 6.2," in text
        assert "{'≤10 min': 4, '10–20 min': 9, '20–30 min': 1, '> 30 min': 23}" in text
        assert "3 of 40 links are straight lines" in text
    else:
        assert "The Rutland OpenStreetMap extract is not installed" in text
        assert "no network times (straight lines only)" in text
        assert "40 of 40 links are straight lines" in text
    assert _maps(cells) == 2


@pytest.mark.parametrize("run", MODES, indirect=True)
def test_03_equity_and_gaps(run: Run, every_register_row: pd.DataFrame) -> None:
    text, cells = _checked_outputs(_execute("03-equity-and-gaps"), every_register_row, run)
    assert "545 micro-assets, 10 sites, 1006 links (modes: ['euclidean'])" in text
    if run.mode == "real":
        assert "136 LSOAs (2011) around Greater Icknield, of 825 in Birmingham and Sandwell" in text
        assert "LSOAs and residents around Greater Icknield by IMD decile" in text
        assert re.search(r"Of the [\d,]+ residents of the 301 Birmingham and Sandwell LSOAs", text)
        assert "method: lsoa;" in text
    else:
        assert "the 43 H3 hexagons (resolution 8) that hold residents" in text
        assert "Residents by deprivation need the LSOA boundaries" in text
        assert "method: h3;" in text
    assert "2SFCA for 250 clinically qualified residents" in text
    assert re.search(r"\d+ of \d+ areas have skilled residents or researchers without", text)
    comparison = (
        "Comparison(545 micro-assets; gained: 70, lost: 69, better: 124, worse: 109, same: 173)"
    )
    assert comparison in text
    assert "73 organisations and buildings changed; residents and researchers changed: 300" in text
    assert _maps(cells) == 2


@pytest.mark.parametrize("run", MODES, indirect=True)
def test_04_build_a_map_bundle(run: Run, every_register_row: pd.DataFrame) -> None:
    text, cells = _checked_outputs(_execute("04-build-a-map-bundle"), every_register_row, run)
    assert re.search(rf"built 5 maps into {re.escape(str(run.tmp))}/assetmap-notebook-04-", text)
    # 5 maps x (HTML + PNG), index, manifest, disclosure log, 4 data files; with the real
    # data the equity map adds its LSOA equity and gap tables.
    files = 19 if run.mode == "real" else 17
    assert re.search(rf"^{files} files, ", text, flags=re.MULTILINE)
    accounting = (
        "row accounting holds for 4 of 4 registers: 577 rows in = 545 placed + 32 rejected"
        " + 0 duplicates across registers"
    )
    assert accounting in text
    reasons = {
        r: 4
        for r in (
            "category_unknown",
            "coord_out_of_range",
            "coord_swapped_lat_lon",
            "duplicate_of",
            "missing_required",
            "postcode_malformed",
            "postcode_not_found",
            "ragged_row",
        )
    }
    assert f"rejected rows by reason: {reasons}" in text
    assert f"scanned {files} files for 393 personal rows: 0 hits" in text
    assert ("full GB postcode directory not installed" in text) == (run.mode == "demo")
    assert text.count('<iframe src="maps/') == 5
    assert any("<png>" in c["html"] for c in cells)
