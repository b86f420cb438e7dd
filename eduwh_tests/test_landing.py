"""Delivery discovery: codes, manifests, completeness, fingerprints, local and Azure alike."""

from __future__ import annotations

import json
import time

import pytest

from eduwh_assets.sources.landing import (
    LandingZone,
    LandingZoneError,
    Manifest,
    ManifestError,
    is_valid_delivery_code,
    source_of,
)


@pytest.mark.parametrize(
    "code, valid",
    [
        ("2025-09-19", True),
        ("D1", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("_hidden", False),
        ("-dash", False),
        ("has space", False),
        ("semi;colon", False),
        ("", False),
    ],
)
def test_delivery_code_pattern(code, valid):
    assert is_valid_delivery_code(code) is valid


@pytest.mark.parametrize(
    "name, source",
    [
        ("attendance.csv", "attendance"),
        ("attendance_b.csv", "attendance"),
        ("assessments.json", "assessments"),
        ("assessments_2.jsonl", "assessments"),
        ("_manifest.json", None),
        ("notes.txt", None),
        ("Attendance.csv", None),
    ],
)
def test_source_of_file_names(name, source):
    assert source_of(name) == source


def test_manifest_errors_name_the_file_and_problem():
    with pytest.raises(ManifestError, match=r"D1/_manifest.json: not valid JSON \(line 1"):
        Manifest.parse("{oops", folder="D1")
    with pytest.raises(ManifestError, match="does not match the folder name 'D1'"):
        Manifest.parse('{"delivery_code": "D2", "files": {}}', folder="D1")
    with pytest.raises(ManifestError, match=r"files.a.csv.rows must be a non-negative integer, got '3'"):
        Manifest.parse('{"delivery_code": "D1", "files": {"a.csv": {"rows": "3"}}}', folder="D1")
    assert Manifest.parse('{"delivery_code": "D1", "files": {"a.csv": {"rows": 3}}}', folder="D1").rows == {"a.csv": 3}


def write_delivery(fs, root: str, code: str, files: dict[str, str], manifest: bool = True) -> None:
    fs.makedirs(f"{root}/{code}", exist_ok=True)  # a no-op on blob storage, needed locally
    for name, text in files.items():
        with fs.open(f"{root}/{code}/{name}", "wb") as fh:
            fh.write(text.encode())
    if manifest:
        doc = {"delivery_code": code, "files": {n: {"rows": t.count("\n") - 1} for n, t in files.items()}}
        with fs.open(f"{root}/{code}/_manifest.json", "wb") as fh:
            fh.write(json.dumps(doc).encode())


def populate(zone: LandingZone) -> None:
    csv = "attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,present\n"
    write_delivery(zone.fs, zone.root, "D2", {"attendance_b.csv": csv, "attendance_a.csv": csv, "readme.txt": "x\n"})
    write_delivery(zone.fs, zone.root, "D1", {"attendance.csv": csv, "assessments.jsonl": "{}\n"})
    write_delivery(zone.fs, zone.root, "D3", {"attendance.csv": csv}, manifest=False)
    write_delivery(zone.fs, zone.root, "bad name", {"attendance.csv": csv})
    zone.fs.makedirs(f"{zone.root}/D4", exist_ok=True)
    with zone.fs.open(f"{zone.root}/D4/_manifest.json", "wb") as fh:
        fh.write(b'{"delivery_code": "D4"}')


def assert_discovery(zone: LandingZone) -> None:
    found = zone.discover()
    assert found.codes == ["D1", "D2"]
    assert found.incomplete == ["D3"]
    assert found.invalid == ["bad name"]
    assert list(found.broken) == ["D4"]
    d1, d2 = found.complete
    assert [f.name for f in d2.files_for("attendance")] == ["attendance_a.csv", "attendance_b.csv"]
    assert [f.name for f in d1.files_for("assessments")] == ["assessments.jsonl"]
    assert d2.manifest.rows == {"attendance_b.csv": 1, "attendance_a.csv": 1, "readme.txt": 0}
    assert found.problems() == [
        "skipped folder 'bad name': not a valid delivery code",
        "delivery 'D3' is incomplete: no _manifest.json yet",
        "delivery 'D4' skipped: D4/_manifest.json: 'files' must be an object of file name -> {\"rows\": n}",
    ]


def test_discovery_on_a_local_folder(tmp_path):
    zone = LandingZone(str(tmp_path / "landing"))
    assert zone.discover().codes == []  # a landing folder that does not exist yet is empty
    (tmp_path / "landing").mkdir()
    populate(zone)
    assert_discovery(zone)
    assert LandingZone(f"file://{tmp_path}/landing").discover().codes == ["D1", "D2"]


def test_discovery_on_azurite(azurite, azure_container):
    zone = LandingZone(azure_container, azurite)
    populate(zone)
    assert_discovery(zone)


def test_fingerprint_changes_only_when_a_file_changes(tmp_path, azurite, azure_container):
    for zone in (LandingZone(str(tmp_path)), LandingZone(azure_container, azurite)):
        populate(zone)
        before = zone.delivery("D2").fingerprint
        assert zone.delivery("D2").fingerprint == before
        time.sleep(1.1)  # local mtimes have one-second resolution on some file systems
        with zone.fs.open(f"{zone.root}/D2/attendance_a.csv", "wb") as fh:
            fh.write(b"attendance_id,student_id,session_date,status\nA1,S1,2025-09-08,absent\n")
        assert zone.delivery("D2").fingerprint != before


def test_unreachable_azure_zone_names_the_zone_not_the_secret():
    secret = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={secret};"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    zone = LandingZone("az://landing", conn)
    with pytest.raises(LandingZoneError) as err:
        zone.discover()
    assert "landing zone az://landing is unreachable" in str(err.value)
    assert secret not in str(err.value)


def test_azure_zone_without_a_connection_string_is_a_clear_error():
    with pytest.raises(LandingZoneError, match="EDUWH_AZURE_CONNECTION_STRING is not set"):
        LandingZone("az://landing", None)


def test_missing_container_is_named(azurite):
    with pytest.raises(LandingZoneError, match=r"landing zone az://no-such-container: container 'no-such-container' does not exist"):
        LandingZone("az://no-such-container", azurite).discover()
