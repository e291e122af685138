"""``assetmap data``: copies from the mirror with checksums, says plainly what it could not do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import real_data

from assetmap import datasets
from assetmap.cli import main


def test_every_dataset_has_licence_attribution_and_checksum() -> None:
    for d in datasets.DATASETS:
        assert len(d.sha256) == 64 and d.size > 0
        assert d.licence and d.attribution and d.url.startswith("https://")
    assert "OpenStreetMap" in datasets.by_key(["osm-rutland"])[0].attribution


def test_unknown_key_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(datasets.DataError, match="expected one of"):
        datasets.by_key(["nope"])


@pytest.mark.data
def test_copy_from_mirror_verifies_and_records_manifest(tmp_path: Path) -> None:
    mirror = real_data("onspd_sample/onspd_sample.csv").parents[1]
    dest = tmp_path / "external"
    first = datasets.install(["onspd-sample", "wards"], dest=dest, mirror=mirror)
    assert [o.status for o in first] == ["copied", "copied"]
    assert (dest / "onspd_sample/onspd_sample.csv").read_bytes() == (
        mirror / "onspd_sample/onspd_sample.csv"
    ).read_bytes()
    manifest = json.loads((dest / "MANIFEST.json").read_text())
    assert manifest["wards"]["sha256"] == datasets.by_key(["wards"])[0].sha256
    assert "Office for National Statistics" in manifest["wards"]["attribution"]
    again = datasets.install(["onspd-sample"], dest=dest, mirror=mirror)
    assert again[0].status == "present"


@pytest.mark.data
def test_corrupt_mirror_copy_is_refused(tmp_path: Path) -> None:
    src = real_data("onspd_sample/onspd_sample.csv")
    mirror = tmp_path / "mirror"
    (mirror / "onspd_sample").mkdir(parents=True)
    corrupt = mirror / "onspd_sample/onspd_sample.csv"
    shutil.copy(src, corrupt)
    with corrupt.open("ab") as fh:
        fh.write(b"tampered\n")
    (outcome,) = datasets.install(["onspd-sample"], dest=tmp_path / "ext", mirror=mirror)
    assert outcome.status == "failed"
    assert "does not match the expected" in outcome.detail
    assert not (tmp_path / "ext/onspd_sample/onspd_sample.csv").exists()


def test_no_mirror_no_direct_download_says_what_to_do(tmp_path: Path) -> None:
    (outcome,) = datasets.install(["imd"], dest=tmp_path, mirror=tmp_path / "absent")
    assert outcome.status == "failed"
    assert "gov.uk" in outcome.detail and "ASSETMAP_DATA_MIRROR" in outcome.detail


def test_cli_exit_code_and_message_when_nothing_can_be_fetched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["data", "--only", "imd", "--dest", str(tmp_path), "--mirror", str(tmp_path / "none")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "failed" in err and "make maps" in err


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--list"]) == 0
    out = capsys.readouterr().out
    assert "codepoint_gb/codepo_gb.zip" in out and "not included" in out


def test_reachable_probe_on_loopback() -> None:
    import socket

    from assetmap._http import reachable

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        assert reachable(f"http://127.0.0.1:{port}/api", timeout_s=1)
        assert not reachable(f"http://127.0.0.1:{port}/api", offline=True)
    finally:
        server.close()
    assert not reachable(f"http://127.0.0.1:{port}/api", timeout_s=1)


@pytest.mark.data
def test_network_download_offline_is_one_plain_line_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import assetmap._http

    monkeypatch.setattr(assetmap._http, "reachable", lambda url, **kw: False)
    mirror = real_data("boundaries/wards_sandwell.geojson").parents[1]
    args = ["data", "--only", "wards", "--dest", str(tmp_path), "--mirror", str(mirror)]
    code = main([*args, "--network", "greater-icknield"])
    out = capsys.readouterr().out
    assert code == 0
    assert "network greater-icknield: offline" in out and "straight-line" in out
    assert not (tmp_path / "networks").exists()
