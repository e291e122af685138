"""Strip outputs, execution counts and editor noise from notebooks, in place.

The notebooks in ``notebooks/`` are committed without outputs: outputs of a real run hold
absolute paths, timings and megabytes of inlined map HTML, and would churn on every run.
What stays is what a reader needs: the cells, their ids, their ``tags``, the kernel spec and
the language name.

Usage::

    python scripts/strip_notebooks.py                 # every notebooks/*.ipynb
    python scripts/strip_notebooks.py a.ipynb b.ipynb
    python scripts/strip_notebooks.py --check         # exit 1 if any notebook needs stripping
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: Notebook-level metadata kept (everything else — widget state, editor settings — goes).
KEEP_NOTEBOOK_METADATA = ("kernelspec",)
#: Cell-level metadata kept (``tags`` drive tools such as nbval/papermill; the rest is noise).
KEEP_CELL_METADATA = ("tags",)


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without outputs, execution counts and metadata noise.

    Parameters
    ----------
    nb
        A notebook read with ``nbformat.read(..., as_version=4)``. Not modified.

    Returns
    -------
    nbformat.NotebookNode
        Code cells with ``outputs == []`` and ``execution_count is None``; cell metadata
        reduced to :data:`KEEP_CELL_METADATA`; notebook metadata reduced to
        :data:`KEEP_NOTEBOOK_METADATA` plus ``language_info.name``. Stripping twice gives
        the same notebook.
    """
    out = copy.deepcopy(nb)
    metadata = {k: out.metadata[k] for k in KEEP_NOTEBOOK_METADATA if k in out.metadata}
    language = out.metadata.get("language_info", {}).get("name")
    if language:
        metadata["language_info"] = {"name": language}
    out["metadata"] = metadata
    for cell in out.cells:
        cell["metadata"] = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif "attachments" in cell and not cell.attachments:
            del cell["attachments"]
    return out


def _text(nb: nbformat.NotebookNode) -> str:
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text if text.endswith("\n") else text + "\n"


def strip_file(path: Path, *, check_only: bool = False) -> bool:
    """Strip one notebook file in place; return whether it was (or would be) changed.

    The file is rewritten only when its text changes, so a clean notebook keeps its
    modification time. The new text replaces the old one through a temporary file in the
    same folder and ``Path.replace``, so an interrupted run never leaves half a notebook.
    """
    before = path.read_text(encoding="utf-8")
    stripped = strip(nbformat.reads(before, as_version=4))  # type: ignore[no-untyped-call]
    nbformat.validate(stripped)
    after = _text(stripped)
    if after == before:
        return False
    if not check_only:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(after, encoding="utf-8")
        tmp.replace(path)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: strip the given notebooks (default ``notebooks/*.ipynb``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 when a notebook has outputs or metadata noise",
    )
    args = parser.parse_args(argv)
    paths: list[Path] = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    changed = [p for p in paths if strip_file(p, check_only=args.check)]
    for path in changed:
        print(f"{'needs stripping' if args.check else 'stripped'}: {path}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
