"""Cut the committed Code-Point Open extract (offline default for the demo) from the publisher's zip.

Writes ``assetmap/data/postcodes/codepoint_extract.csv`` -- the publisher's own CSV layout
(no header, the same 10 columns, the same quoting: each selected line is copied byte for
byte) -- and ``assetmap/data/postcodes/README.md`` with the source, version, licence,
attribution and row counts.

Selection:

* every unit in the Birmingham/Sandwell districts of the Greater Icknield demo
  (``B1 B3 B16 B18 B66 B67 B68 B69 B70 B71``);
* every unit in ``LE15`` (Oakham, Uppingham and the Rutland villages);
* the ``PE9`` units whose admin district is Rutland (``E06000017``).

Usage::

    python scripts/make_postcode_extract.py [path/to/codepo_gb.zip] [--out DIR]

The zip defaults to ``$ASSETMAP_DATA_MIRROR/codepoint_gb/codepo_gb.zip``, else
``../shared/data/codepoint_gb/codepo_gb.zip`` next to the repository, else
``/work/shared/data/codepoint_gb/codepo_gb.zip``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from assetmap.postcodes import CODEPOINT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "assetmap" / "data" / "postcodes"
EXTRACT_NAME = "codepoint_extract.csv"

#: Whole postcode districts taken from each area file.
WHOLE_DISTRICTS: dict[str, tuple[str, ...]] = {
    "b": ("B1", "B3", "B16", "B18", "B66", "B67", "B68", "B69", "B70", "B71"),
    "le": ("LE15",),
}
#: Districts taken only where the unit's admin district is Rutland.
RUTLAND_DISTRICT_CODE = "E06000017"
RUTLAND_ONLY: dict[str, tuple[str, ...]] = {"pe": ("PE9",)}
#: The extract must stay small enough to commit.
MAX_BYTES = 1_000_000


def default_zip() -> Path:
    """The Code-Point Open zip in the data mirror, or the shared copy beside the repo."""
    candidates = []
    mirror = os.environ.get("ASSETMAP_DATA_MIRROR")
    if mirror:
        candidates.append(Path(mirror) / "codepoint_gb" / "codepo_gb.zip")
    candidates.append(ROOT.parent / "shared" / "data" / "codepoint_gb" / "codepo_gb.zip")
    candidates.append(Path("/work/shared/data/codepoint_gb/codepo_gb.zip"))
    for path in candidates:
        if path.exists():
            return path
    return candidates[0]


def select_lines(raw: bytes, *, whole: tuple[str, ...], rutland_only: tuple[str, ...]) -> bytes:
    """Return the lines of one area file whose unit is selected, byte-identical and in order.

    Parameters
    ----------
    raw
        The bytes of one ``Data/CSV/<area>.csv`` file (no header, LF or CRLF line ends).
    whole
        Postcode districts (outward codes) kept entirely.
    rutland_only
        Postcode districts kept only where ``Admin_district_code`` is Rutland.
    """
    lines = np.array(raw.splitlines(keepends=True), dtype=object)
    frame = pd.read_csv(
        io.BytesIO(raw),
        header=None,
        names=list(CODEPOINT_COLUMNS),
        dtype=str,
        keep_default_na=False,
        encoding="ascii",
    )
    if len(frame) != len(lines):
        msg = f"area file has {len(lines)} lines but {len(frame)} CSV rows (embedded newlines?)"
        raise ValueError(msg)
    district = frame["Postcode"].str.split(" ", n=1).str[0]
    keep = district.isin(whole) | (
        district.isin(rutland_only) & frame["Admin_district_code"].eq(RUTLAND_DISTRICT_CODE)
    )
    return b"".join(lines[keep.to_numpy()])


def read_doc(archive: zipfile.ZipFile, name: str) -> str:
    """Text of a ``Doc/`` file; the publisher writes them in Windows-1252 (the © sign)."""
    return archive.read(f"Doc/{name}").decode("cp1252")


def attribution_lines(licence: str) -> list[str]:
    """The 'Contains ... data © ...' lines of Doc/licence.txt, verbatim."""
    return [line.strip() for line in licence.splitlines() if line.strip().startswith("Contains")]


def metadata_value(metadata: str, key: str) -> str:
    """Value of ``KEY: value`` in Doc/metadata.txt."""
    for line in metadata.splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip()
    msg = f"Doc/metadata.txt has no {key!r} line"
    raise ValueError(msg)


def _district_order(district: str) -> tuple[str, int]:
    """Sort key putting B3 before B16 (area letters, then district number)."""
    letters = district.rstrip("0123456789")
    return letters, int(district[len(letters) :])


def build(zip_path: Path, out_dir: Path) -> dict[str, int]:
    """Write the extract and its README into ``out_dir``; return row counts per district."""
    with zipfile.ZipFile(zip_path) as archive:
        chunks = []
        for area in sorted(set(WHOLE_DISTRICTS) | set(RUTLAND_ONLY)):
            raw = archive.read(f"Data/CSV/{area}.csv")
            chunks.append(
                select_lines(
                    raw,
                    whole=WHOLE_DISTRICTS.get(area, ()),
                    rutland_only=RUTLAND_ONLY.get(area, ()),
                )
            )
        licence = read_doc(archive, "licence.txt")
        metadata = read_doc(archive, "metadata.txt")
    data = b"".join(chunks)
    if len(data) >= MAX_BYTES:
        msg = f"extract is {len(data)} bytes; it must stay under {MAX_BYTES} bytes to be committed"
        raise ValueError(msg)
    frame = pd.read_csv(io.BytesIO(data), header=None, names=list(CODEPOINT_COLUMNS), dtype=str)
    districts = frame["Postcode"].str.split(" ", n=1).str[0]
    tally = districts.value_counts()
    counts = {str(k): int(tally[k]) for k in sorted(tally.index, key=_district_order)}
    rutland_rows = int(frame["Admin_district_code"].eq(RUTLAND_DISTRICT_CODE).sum())

    out_dir.mkdir(parents=True, exist_ok=True)
    extract = out_dir / EXTRACT_NAME
    tmp = extract.with_suffix(".csv.part")
    tmp.write_bytes(data)
    os.replace(tmp, extract)

    readme = render_readme(
        counts=counts,
        total=len(frame),
        rutland_rows=rutland_rows,
        size=len(data),
        version=metadata_value(metadata, "DATASET VERSION NUMBER"),
        copyright_date=metadata_value(metadata, "COPYRIGHT DATE"),
        product=metadata_value(metadata, "PRODUCT"),
        attribution=attribution_lines(licence),
    )
    tmp = out_dir / "README.md.part"
    tmp.write_text(readme, encoding="utf-8", newline="\n")
    os.replace(tmp, out_dir / "README.md")
    return counts


def render_readme(
    *,
    counts: dict[str, int],
    total: int,
    rutland_rows: int,
    size: int,
    version: str,
    copyright_date: str,
    product: str,
    attribution: list[str],
) -> str:
    """The README that travels with the extract (source, version, licence, counts)."""
    rows = "\n".join(f"| `{district}` | {n:,} |" for district, n in counts.items())
    quoted = "\n".join(f"> {line}  " for line in attribution)
    return f"""# Code-Point Open extract (package data)

`codepoint_extract.csv` is a subset of **OS Code-Point Open**, cut by
`scripts/make_postcode_extract.py` from the publisher's `codepo_gb.zip`. It lets the demo
(`data/demo/`) and the tests geocode offline without the full directory. For any other area,
install the whole of Code-Point Open (`make data`).

- **Publisher:** Ordnance Survey, https://osdatahub.os.uk/downloads/open/CodePointOpen
- **Product:** {product}, dataset version **{version}** (copyright date {copyright_date}),
  from the zip's `Doc/metadata.txt`.
- **Layout:** the publisher's own CSV layout, unchanged: no header row; 10 columns
  `{", ".join(CODEPOINT_COLUMNS)}`; text fields double-quoted. Every line is copied byte for byte from
  `Data/CSV/<area>.csv`, in the publisher's order, so the same reader handles both.
  Eastings/northings are British National Grid (EPSG:27700), metres.
- **Selection:** all units in districts B1, B3, B16, B18, B66, B67, B68, B69, B70, B71 and
  LE15, plus the PE9 units whose `Admin_district_code` is Rutland (`E06000017`).
- **Rows:** {total:,} ({size:,} bytes); {rutland_rows:,} of them in Rutland (`E06000017`).

| district | units |
|---|---:|
{rows}

## Licence and attribution

Open Government Licence v3.0 (https://www.ordnancesurvey.co.uk/opendata/licence,
https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/).
Required attribution, verbatim from the zip's `Doc/licence.txt`:

{quoted}

Regenerate with `python scripts/make_postcode_extract.py` (optionally the zip path).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("zip", nargs="?", type=Path, default=None, help="path to codepo_gb.zip")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    zip_path = args.zip or default_zip()
    if not zip_path.exists():
        print(f"Code-Point Open zip not found: {zip_path}", file=sys.stderr)
        return 2
    counts = build(zip_path, args.out)
    print(f"wrote {sum(counts.values()):,} units to {args.out / EXTRACT_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
