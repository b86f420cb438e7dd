"""`eduwh generate`: deterministic, honest manifests, every problem kind present, local and Azure alike."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import sqlalchemy as sa

from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.dataset import generate
from eduwh_assets.generate.writers import add_late_students, write_landing, write_sis
from eduwh_assets.sources.landing import LandingZone, is_valid_delivery_code
from eduwh_tests.oracle import expected, read_landing

TINY = GeneratorConfig.for_scale("tiny", seed=7)


def files_of(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_sis(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frames = {t: pd.read_sql(f"select * from sis.{t} order by 1", conn) for t in ("programmes", "classes", "students")}
    engine.dispose()
    return frames


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    write_landing(generate(TINY), str(tmp_path / "a"))
    write_landing(generate(TINY), str(tmp_path / "b"))
    write_landing(generate(TINY.with_(seed=8)), str(tmp_path / "c"))
    a, b, c = files_of(tmp_path / "a"), files_of(tmp_path / "b"), files_of(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_deliveries_are_complete_ordered_and_their_manifests_tell_the_truth(tmp_path):
    landing = tmp_path / "landing"
    write_landing(generate(TINY), str(landing))
    found = LandingZone(str(landing)).discover()
    assert len(found.complete) == TINY.deliveries and not (found.incomplete or found.invalid or found.broken)
    assert found.codes == sorted(found.codes) and all(is_valid_delivery_code(c) for c in found.codes)
    attendance, assessments = read_landing(landing)
    received = pd.concat([attendance, assessments]).groupby(["delivery_code", "_source_file"]).size().to_dict()
    for delivery in found.complete:
        manifest = json.loads((landing / delivery.code / "_manifest.json").read_text())
        assert manifest["delivery_code"] == delivery.code
        for name, entry in manifest["files"].items():
            assert entry["rows"] == received[(delivery.code, name)], (delivery.code, name)
    names = {f.name for d in found.complete for f in d.files}
    assert any(n.endswith(".json") for n in names) and any(n.endswith(".jsonl") for n in names)
    # Term-time school days only: no session falls on a weekend.
    days = pd.to_datetime(attendance["session_date"], format="%Y-%m-%d", errors="coerce").dropna()
    assert not (days.dt.dayofweek >= 5).any()


def test_every_problem_kind_is_present_and_late_students_arrive_later(tmp_path, fresh_pg_url):
    dataset = generate(TINY)
    write_sis(dataset, fresh_pg_url)
    landing = tmp_path / "landing"
    write_landing(dataset, str(landing))
    attendance, assessments = read_landing(landing)

    before = expected(read_sis(fresh_pg_url), attendance, assessments)
    outcomes = set(before["delivery_quality"]["outcome"])
    assert outcomes == {"loaded", "superseded", "missing_key", "bad_date", "bad_status", "bad_score", "unknown_student"}
    # Duplicates within one file, and restatements across deliveries.
    ids = attendance[attendance["attendance_id"].str.strip() != ""]
    per_file = ids.groupby(["delivery_code", "_source_file", "attendance_id"]).size()
    assert (per_file > 1).any()
    assert (ids.groupby("attendance_id")["delivery_code"].nunique() > 1).any()
    # Messy but valid statuses (' Late ', 'ABSENT') are in the files.
    assert (attendance["status"] != attendance["status"].str.strip().str.lower()).any()

    late = set(dataset.late_student_ids)
    assert late and not late & set(read_sis(fresh_pg_url)["students"]["student_id"])
    rejected = set(before["attendance_rejects"].query("reason == 'unknown_student'")["student_id"].str.strip())
    assert late <= rejected
    assert add_late_students(dataset, fresh_pg_url) == len(late)
    after = expected(read_sis(fresh_pg_url), attendance, assessments)
    still_rejected = set(after["attendance_rejects"].query("reason == 'unknown_student'")["student_id"].str.strip())
    assert not late & still_rejected


def test_sis_rows_are_identical_on_a_rewrite(fresh_pg_url):
    write_sis(generate(TINY), fresh_pg_url)
    first = read_sis(fresh_pg_url)
    write_sis(generate(TINY), fresh_pg_url)
    second = read_sis(fresh_pg_url)
    for table in first:
        pd.testing.assert_frame_equal(first[table], second[table])
    students = first["students"]
    assert set(students["enrolment_status"]) <= {"active", "suspended", "withdrawn", "completed"}
    assert (students["enrolment_status"] == "active").mean() > 0.5
    assert students["date_of_birth"].map(lambda d: isinstance(d, date)).all()


def test_azure_landing_gets_the_same_bytes(tmp_path, azurite, azure_container):
    dataset = generate(TINY)
    write_landing(dataset, str(tmp_path / "local"))
    write_landing(dataset, azure_container, azurite)
    zone = LandingZone(azure_container, azurite)
    local = files_of(tmp_path / "local")
    remote = {path.split("/", 1)[1]: zone.fs.cat_file(path) for path in zone.fs.find(zone.root)}
    assert remote == local


def test_sis_url_is_redacted_and_an_unreachable_sis_fails_by_name():
    from eduwh_assets.bootstrap import sis_url
    from eduwh_assets.sources.sis_server import SisUnavailableError, check_sis, redact_url
    from eduwh_tests.conftest import free_port, make_settings

    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg2://eduwh:S3cr3t-pw@127.0.0.1:{port}/sisdb"
    assert redact_url(url) == f"postgresql+psycopg2://eduwh:***@127.0.0.1:{port}/sisdb"
    try:
        check_sis(url, timeout=2)
    except SisUnavailableError as exc:
        message = str(exc)
    else:
        raise AssertionError("check_sis accepted a closed port")
    assert "S3cr3t-pw" not in message
    assert f"database 'sisdb' on 127.0.0.1:{port}" in message
    # An external SIS is returned as given, and no embedded server is started for it.
    from pathlib import Path

    assert sis_url(make_settings(Path("/nonexistent"), EDUWH_SIS_URL=url)) == url


def test_generate_command_never_prints_the_password(tmp_path, fresh_pg_url, capsys):
    from eduwh_assets.cli import main

    # Trust authentication ignores the password, so a made-up one shows whether it leaks.
    url = sa.make_url(fresh_pg_url).set(password="Sup3rSecret").render_as_string(hide_password=False)
    landing = tmp_path / "out"
    dataset = generate(TINY)
    assert main(["generate", "--scale", "tiny", "--seed", "7", "--landing", str(landing), "--sis-url", url]) == 0
    out = capsys.readouterr().out
    assert "Sup3rSecret" not in out
    sis_count = len(dataset.students) - len(dataset.late_student_ids)
    assert f"sis.students {sis_count} rows ({len(dataset.late_student_ids)} late students held back)" in out
    assert files_of(landing) == {
        f"{d.code}/{name}": data
        for d in dataset.deliveries
        for name, data in [(f.name, f.data) for f in d.files] + [("_manifest.json", d.manifest_bytes())]
    }
    assert main(["generate", "--scale", "tiny", "--seed", "7", "--sis-url", url, "--late-students"]) == 0
    out = capsys.readouterr().out
    assert f"added {len(dataset.late_student_ids)} late students" in out and "Sup3rSecret" not in out
    assert len(read_sis(fresh_pg_url)["students"]) == len(dataset.students)


def test_update_students_moves_only_their_updated_at(fresh_pg_url):
    from eduwh_assets.generate.writers import update_students

    write_sis(generate(TINY), fresh_pg_url)
    before = read_sis(fresh_pg_url)["students"].set_index("student_id")
    ids = list(before.index[:2])
    assert update_students(fresh_pg_url, ids, enrolment_status="withdrawn") == 2
    after = read_sis(fresh_pg_url)["students"].set_index("student_id")
    moved = after.index[after["updated_at"] != before["updated_at"]].tolist()
    assert moved == ids
    assert (after.loc[ids, "enrolment_status"] == "withdrawn").all()
    assert (after.loc[ids, "updated_at"] > before["updated_at"].max()).all()
