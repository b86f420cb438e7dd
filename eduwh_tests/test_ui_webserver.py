"""The Dagster UI a person uses: the real webserver and daemon on a temporary instance.

One stack per module, because starting it loads the code location twice
(webserver, daemon) and every run loads it again. The story: the asset graph
links every gold table back to every bronze table; one delivery is
materialised; a backfill covers two deliveries; five runs launched at once all
succeed because the warehouse pool lets one writer in at a time; and headless
Chromium renders the asset graph and an asset's page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from eduwh_assets.config import PROJECT_ROOT, WAREHOUSE_POOL
from eduwh_assets.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from eduwh_assets.warehouse import connect_read_only
from eduwh_tests.conftest import create_database, free_port, wait_for_port

BIN = Path(sys.executable).parent
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = {"repositoryLocationName": "eduwh", "repositoryName": "__repository__"}
SEED = 11
# A run on two shared cores loads the code location (dbt manifest, dlt) before it does anything.
RUN_TIMEOUT = 600.0


@dataclass
class Stack:
    url: str
    home: Path
    env: dict[str, str]
    deliveries: list[str]
    logs: Path

    def gql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            doc = json.loads(resp.read())
        assert "errors" not in doc, doc["errors"]
        return doc["data"]

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.log")))


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


INSTIGATORS = """
query ($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) { ... on Sensors { results { name sensorState { id status } } } }
  schedulesOrError(repositorySelector: $repo) { ... on Schedules { results { name scheduleState { id status } } } }
}"""


def wait_for_code_location(stack: Stack, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = stack.gql(
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        entries = data["workspaceOrError"]["locationEntries"]
        if entries and entries[0]["loadStatus"] == "LOADED":
            error = entries[0]["locationOrLoadError"]
            assert error["__typename"] == "RepositoryLocation", error
            return
        time.sleep(1)
    raise TimeoutError(f"code location did not load in {timeout}s\n{stack.tail()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pg_admin_url):
    from eduwh_assets.generate import GeneratorConfig, generate, write_landing, write_sis

    tmp = tmp_path_factory.mktemp("ui")
    home, logs = tmp / "dagster_home", tmp / "logs"
    home.mkdir()
    logs.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")

    dataset = generate(GeneratorConfig.for_scale("tiny", SEED))
    sis_url = create_database(pg_admin_url)
    write_sis(dataset, sis_url)
    written = write_landing(dataset, str(tmp / "landing"))

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EDUWH_", "DAGSTER_"))},
        "DAGSTER_HOME": str(home),
        "EDUWH_DATA_DIR": str(tmp / "data"),
        "EDUWH_WAREHOUSE": str(tmp / "data" / "warehouse.duckdb"),
        "EDUWH_LANDING": str(tmp / "landing"),
        "EDUWH_SIS_URL": sis_url,
    }
    port = free_port()
    webserver = start(
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        logs / "webserver.log",
    )
    daemon = None
    s = Stack(f"http://127.0.0.1:{port}", home, env, [d.code for d in written], logs)
    try:
        wait_for_port(port, timeout=300)
        wait_for_code_location(s)
        # The test launches every run itself and counts them, so the sensors and schedules
        # (on by default) are switched off before the daemon first looks at them.
        data = s.gql(INSTIGATORS, repo=REPO)
        for sensor in data["sensorsOrError"]["results"]:
            s.gql("mutation ($id: String) { stopSensor(id: $id) { __typename } }", id=sensor["sensorState"]["id"])
        for sched in data["schedulesOrError"]["results"]:
            s.gql(
                "mutation ($id: String) { stopRunningSchedule(id: $id) { __typename } }", id=sched["scheduleState"]["id"]
            )
        daemon = start([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, logs / "daemon.log")
        yield s
    finally:
        if daemon is not None:
            stop(daemon)
        stop(webserver)


def add_partition(stack: Stack, code: str) -> None:
    data = stack.gql(
        "mutation ($repo: RepositorySelector!, $key: String!) { addDynamicPartition(repositorySelector: $repo, "
        'partitionsDefName: "deliveries", partitionKey: $key) { __typename } }',
        repo=REPO,
        key=code,
    )
    assert data["addDynamicPartition"]["__typename"] in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError")


def launch(stack: Stack, job: str, tags: dict[str, str] | None = None) -> str:
    data = stack.gql(
        """mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
             ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
        params={
            "selector": {**REPO, "jobName": job},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        },
    )
    result = data["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def run_status(stack: Stack, run_id: str) -> str:
    return stack.gql("query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"][
        "status"
    ]


def wait_for_runs(stack: Stack, run_ids: list[str], timeout: float = RUN_TIMEOUT) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = {rid: run_status(stack, rid) for rid in run_ids}
        if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses.values()):
            return statuses
        time.sleep(2)
    raise TimeoutError(f"runs still going after {timeout}s: {statuses}\n{stack.tail()}")


def failure_detail(stack: Stack, run_id: str) -> str:
    data = stack.gql(
        """query ($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
             ... on MessageEvent { message } ... on ExecutionStepFailureEvent { error { message } } } } } }""",
        id=run_id,
    )
    events = data["logsForRun"].get("events", [])
    return "\n".join(
        (e.get("error") or {}).get("message") or e.get("message", "")
        for e in events
        if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent", "EngineEvent")
    )[-4000:]


def assert_succeeded(stack: Stack, statuses: dict[str, str]) -> None:
    failed = {rid: s for rid, s in statuses.items() if s != "SUCCESS"}
    assert not failed, "\n".join(f"{rid}: {s}\n{failure_detail(stack, rid)}" for rid, s in failed.items())


def asset_graph(stack: Stack) -> dict[str, dict]:
    nodes = stack.gql(
        "{ assetNodes { assetKey { path } groupName pools dependencyKeys { path } } }"
    )["assetNodes"]
    return {"/".join(n["assetKey"]["path"]): n for n in nodes}


def test_lineage_reaches_every_source_from_every_gold_table(stack: Stack):
    graph = asset_graph(stack)
    bronze = {k for k in graph if k.startswith("bronze/")}
    gold = {k for k in graph if k.startswith("gold/")}
    assert bronze == {
        "bronze/sis_programmes",
        "bronze/sis_classes",
        "bronze/sis_students",
        "bronze/attendance",
        "bronze/assessments",
    }
    assert gold == {  # SPEC §4
        "gold/student_performance_summary",
        "gold/class_daily_performance",
        "gold/student_risk_features",
        "gold/delivery_quality",
        "gold/student_absence",
        "gold/programme_attendance",
    }
    sources = {  # every source system reaches gold through at least one of its tables or files
        "postgres (SIS)": {"sis/programmes", "sis/classes", "sis/students"},
        "csv (attendance)": {"landing/attendance"},
        "json (assessments)": {"landing/assessments"},
    }
    reached = {}
    for key in sorted(gold):
        seen, todo = set(), [key]
        while todo:
            node = graph[todo.pop()]
            for dep in ("/".join(d["path"]) for d in node["dependencyKeys"]):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        for source, tables in sources.items():
            assert seen & tables, f"{key} does not reach the {source} source"
        reached[key] = seen
    # Lineage starts at the sources: every source table and file reaches gold.
    assert set().union(*sources.values()) <= set().union(*reached.values())
    # No bronze table is left dangling: each one reaches gold, programmes through programme_attendance.
    assert bronze <= set().union(*reached.values()), sorted(bronze - set().union(*reached.values()))
    assert "bronze/sis_programmes" in reached["gold/programme_attendance"]
    # Every bronze writer takes the warehouse pool, which is what serialises concurrent runs.
    for key in sorted(bronze):
        assert WAREHOUSE_POOL in graph[key]["pools"], (key, graph[key]["pools"])


def test_materialise_one_delivery_partition(stack: Stack):
    code = stack.deliveries[0]
    add_partition(stack, code)
    run_id = launch(stack, "deliveries_job", {"dagster/partition": code})
    assert_succeeded(stack, wait_for_runs(stack, [run_id]))
    data = stack.gql(
        """{ assetNodes(assetKeys: [{path: ["bronze", "attendance"]}]) {
             assetMaterializations(partitions: ["%s"]) { partition runId } } }""" % code
    )
    mats = data["assetNodes"][0]["assetMaterializations"]
    assert [(m["partition"], m["runId"]) for m in mats] == [(code, run_id)]


def test_backfill_over_two_deliveries(stack: Stack):
    codes = stack.deliveries[1:3]
    for code in codes:
        add_partition(stack, code)
    data = stack.gql(
        """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
             __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
        params={
            "selector": {"partitionSetName": "deliveries_job_partition_set", "repositorySelector": REPO},
            "partitionNames": codes,
        },
    )
    result = data["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id = result["backfillId"]

    def covered(run: dict) -> list[str]:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if PARTITION_TAG in tags:
            return [tags[PARTITION_TAG]]
        return codes[codes.index(tags[RANGE_START_TAG]) : codes.index(tags[RANGE_END_TAG]) + 1]

    deadline = time.monotonic() + RUN_TIMEOUT
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = stack.gql(
            """query ($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) {
                 ... on Runs { results { runId status tags { key value } } } } }""",
            tags=[{"key": "dagster/backfill", "value": backfill_id}],
        )["runsOrError"]["results"]
        covered_codes = {c for r in runs for c in covered(r)}
        if covered_codes == set(codes) and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            break
        time.sleep(2)
    assert_succeeded(stack, {r["runId"]: r["status"] for r in runs})
    # The bronze assets backfill a range in a single run: two deliveries, one run and one dlt load.
    assert len(runs) == 1
    tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == (codes[0], codes[-1])
    # The backfill daemon closes the backfill on a later iteration than the last run's end.
    status = "REQUESTED"
    while time.monotonic() < deadline and status in ("REQUESTED", "CANCELING", "FAILING"):
        status = stack.gql(
            "query ($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }",
            id=backfill_id,
        )["partitionBackfillOrError"]["status"]
        time.sleep(1)
    assert status == "COMPLETED_SUCCESS"
    # Each delivery's partition shows its own row count, as the warehouse counts it.
    materializations = stack.gql(
        """query ($partitions: [String!]) { assetOrError(assetKey: {path: ["bronze", "attendance"]}) {
             ... on Asset { assetMaterializations(partitions: $partitions) {
               partition metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }""",
        partitions=codes,
    )["assetOrError"]["assetMaterializations"]
    shown = {
        m["partition"]: next(e["intValue"] for e in m["metadataEntries"] if e["label"] == "dagster/row_count")
        for m in materializations
    }
    # A sensor may be refreshing silver and gold meanwhile: wait for the writer.
    with connect_read_only(Path(stack.env["EDUWH_WAREHOUSE"])) as conn:
        counted = dict(conn.execute(
            "SELECT delivery_code, count(*) FROM bronze.attendance WHERE list_contains(?, delivery_code) GROUP BY 1",
            [codes],
        ).fetchall())
    assert shown == counted and len(set(counted.values())) == 2, (shown, counted)


def test_five_runs_at_once_queue_on_the_warehouse_pool(stack: Stack):
    for code in stack.deliveries:
        add_partition(stack, code)
    run_ids = [launch(stack, "sis_sync_job")]
    run_ids += [launch(stack, "deliveries_job", {"dagster/partition": code}) for code in stack.deliveries]
    run_ids.append(launch(stack, "transform_job"))
    assert len(run_ids) == 5
    statuses = wait_for_runs(stack, run_ids)
    assert_succeeded(stack, statuses)
    # The pool exists with limit 1 on this fresh instance with no manual step, and is free again.
    pool = stack.gql(
        "query ($p: String!) { instance { concurrencyLimit(concurrencyKey: $p) { slotCount activeSlotCount } } }",
        p=WAREHOUSE_POOL,
    )["instance"]["concurrencyLimit"]
    assert pool == {"slotCount": 1, "activeSlotCount": 0}
    # Writers never overlapped: each step holding the pool started after the previous one ended.
    spans = sorted(pool_step_spans(stack, run_ids))
    assert len(spans) >= 5
    for (start_a, end_a, step_a), (start_b, _, step_b) in zip(spans, spans[1:]):
        assert start_b >= end_a, f"{step_a} and {step_b} wrote the warehouse at the same time"


def test_eduwh_backfill_submits_to_the_running_daemon(stack: Stack, capsys):
    """`eduwh backfill` sees the daemon, submits a Dagster backfill and waits for its runs."""
    import argparse

    from eduwh_assets.cli import backfill
    from eduwh_assets.config import Settings

    parser = argparse.ArgumentParser(prog="eduwh")
    backfill.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["backfill", "--delivery", stack.deliveries[0], "--delivery", stack.deliveries[2]])
    with pytest.MonkeyPatch.context() as env:
        for name in ("DAGSTER_HOME", "EDUWH_DATA_DIR", "EDUWH_WAREHOUSE", "EDUWH_LANDING", "EDUWH_SIS_URL"):
            env.setenv(name, stack.env[name])
        status = backfill.command(args, Settings.from_env(stack.env))
    out = capsys.readouterr().out
    assert status == 0, out
    assert "mode daemon" in out
    assert "2 succeeded, 0 failed" in out  # deliveries, covered by the backfill's run(s)
    backfills = stack.gql("{ partitionBackfillsOrError(limit: 1) { ... on PartitionBackfills { results { "
                          "status partitionNames } } } }")["partitionBackfillsOrError"]["results"]
    assert backfills[0]["partitionNames"] == [stack.deliveries[0], stack.deliveries[2]]


def pool_step_spans(stack: Stack, run_ids: list[str]) -> list[tuple[float, float, str]]:
    spans = []
    for run_id in run_ids:
        data = stack.gql(
            """query ($id: ID!) { runOrError(runId: $id) { ... on Run {
                 stepStats { stepKey startTime endTime } } } }""",
            id=run_id,
        )
        for step in data["runOrError"]["stepStats"]:
            if step["startTime"] and step["endTime"]:
                spans.append((step["startTime"], step["endTime"], f"{run_id[:8]}:{step['stepKey']}"))
    return spans


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            "headless Chromium is missing: run `bash scripts/install-test-tools.sh` "
            "(apt-get install -y chromium chromium-driver)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1600,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def open_page(driver, url: str, texts: list[str], screenshot: str, timeout: float = 120.0) -> str:
    """Load `url`, dismiss the UI's one-time newsletter prompt, wait for `texts`, and save a screenshot."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        for button in driver.find_elements("xpath", "//button[normalize-space()='Skip']"):
            button.click()
        body = driver.find_element("tag name", "body").text
        if all(t in body for t in texts) and "Join the Dagster community" not in body:
            break
        time.sleep(1)
    driver.save_screenshot(str(ARTIFACTS / screenshot))
    missing = [t for t in texts if t not in body]
    assert not missing, f"{url} never showed {missing}; it showed:\n{body[:3000]}"
    return body


def test_asset_graph_pages_render_the_layers(stack: Stack, browser):
    # The global lineage shows one node per layer, from the sources to quality.
    # The group nodes render after the page title, so wait for them as well.
    body = open_page(
        browser,
        f"{stack.url}/asset-groups",
        ["Global asset lineage", "sources", "bronze", "silver", "quarantine", "gold", "quality"],
        "ui_global_lineage.png",
    )
    for group in ("sources", "bronze", "silver", "quarantine", "gold", "quality"):
        assert group in body.split("\n"), group
    # A layer's own graph shows its assets as nodes, with the layer they are built from.
    body = open_page(
        browser,
        f"{stack.url}/locations/eduwh/asset-groups/gold",
        # The canvas draws only the nodes in view; these are in view at this window size.
        # Node status loads after the nodes themselves, so wait for it too.
        ["class_daily_performance", "student_absence", "student_risk_features", "Materialized", "10 / 10 Passed"],
        "ui_gold_lineage.png",
    )
    # Materialised by the five-run test, with every check passed: class_daily_performance
    # has nine on its data and a schema-change check.
    assert "Materialized" in body.split("\n")
    assert "Never materialized" not in body.split("\n")
    assert "10 / 10 Passed" in body.split("\n")


def test_asset_page_shows_metadata(stack: Stack, browser):
    body = open_page(
        browser,
        f"{stack.url}/assets/gold/student_performance_summary",
        ["Compute details", "Columns", "Upstream assets"],
        "ui_asset_page.png",
    )
    lines = body.split("\n")
    # It was materialised by the five-run test, through dbt, into the warehouse's gold schema.
    assert "Never materialized" not in lines
    for expected in (
        "Group",
        "gold",
        "eduwh",
        "warehouse.gold.student_performance_summary",
        "transform_job",
        "bronze_refresh_sensor",
        "silver / dim_student",
        "model.eduwh.student_performance_summary",
        "attendance_rate",
        "avg_score_pct",
    ):
        assert expected in lines, expected



def warehouse_rows(stack: Stack, sql: str, params=None) -> list[tuple]:
    # A sensor may be refreshing silver and gold meanwhile: wait for the writer.
    with connect_read_only(Path(stack.env["EDUWH_WAREHOUSE"])) as conn:
        return conn.execute(sql, params or []).fetchall()


def value_after(lines: list[str], label: str) -> str:
    """The text shown right after `label` on a page (the UI lays out label and value on their own lines)."""
    assert label in lines, f"{label!r} is not on the page"
    return lines[lines.index(label) + 1]


def test_each_delivery_partition_shows_its_own_rows_and_quality(stack: Stack, browser):
    """The bronze partition pages: each delivery's own row count, and its reject rate, as the warehouse has them."""
    # The earlier tests loaded some deliveries again after the last refresh of gold; a page shows
    # the quality observed after its partition's latest load, which the next refresh records.
    assert_succeeded(stack, wait_for_runs(stack, [launch(stack, "transform_job")]))
    codes = stack.deliveries[:2]
    counts = dict(warehouse_rows(
        stack, "SELECT delivery_code, count(*) FROM bronze.attendance WHERE list_contains(?, delivery_code) GROUP BY 1", [codes]
    ))
    rejected = dict(warehouse_rows(
        stack,
        "SELECT delivery_code, count(*) FROM quarantine.attendance_rejects WHERE list_contains(?, delivery_code) GROUP BY 1",
        [codes],
    ))
    shown = {}
    for i, code in enumerate(codes):
        body = open_page(
            browser,
            f"{stack.url}/assets/bronze/attendance?view=partitions&partition={code}",
            ["dagster/row_count", "reject_rate", code],
            f"ui_bronze_partition_{i + 1}.png",
        )
        lines = body.split("\n")
        shown[code] = (int(value_after(lines, "dagster/row_count")), float(value_after(lines, "reject_rate")))
    assert shown == {code: (counts[code], round(100 * rejected[code] / counts[code], 2)) for code in codes}
    assert counts[codes[0]] != counts[codes[1]]  # the partitions really differ, so the page is not the run's total


def test_a_gold_asset_shows_its_typed_columns_and_row_count(stack: Stack, browser):
    body = open_page(
        browser,
        f"{stack.url}/assets/gold/student_performance_summary",
        ["Row count", "Columns", "attendance_rate", "DOUBLE"],
        "ui_gold_schema.png",
    )
    lines = body.split("\n")
    [(count,)] = warehouse_rows(stack, "SELECT count(*) FROM gold.student_performance_summary")
    assert int(value_after(lines, "Row count").replace(",", "")) == count
    columns = warehouse_rows(
        stack,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'gold' AND table_name = 'student_performance_summary' ORDER BY ordinal_position",
    )
    for name, data_type in columns:  # every column, with DuckDB's type beside it
        assert value_after(lines, name) == data_type, name
    # The owners and the freshness policy are on the page too (its status comes when the daemon
    # first evaluates it, so only the policy itself is asserted).
    assert "eduwh-data" in lines and "Freshness policy" in lines


def test_the_reconciliation_check_shows_passed_per_partition(stack: Stack, browser):
    open_page(
        browser,
        f"{stack.url}/assets/bronze/attendance?view=checks&checkDetail=manifest_reconciliation",
        ["What: the rows received per attendance file", "Evaluation result"],
        "ui_reconciliation_check.png",
    )
    tabs = browser.find_elements("xpath", "//*[normalize-space(text())='Partitions']")
    tabs[-1].click()  # the check's own Partitions tab, after the asset's
    materialised = {code for (code,) in warehouse_rows(stack, "SELECT DISTINCT delivery_code FROM bronze.attendance")}
    deadline = time.monotonic() + 60
    body = ""
    while time.monotonic() < deadline:
        body = browser.find_element("tag name", "body").text
        if f"Passed ({len(materialised)})" in body:
            break
        time.sleep(1)
    browser.save_screenshot(str(ARTIFACTS / "ui_reconciliation_partitions.png"))
    (ARTIFACTS / "ui_reconciliation_partitions.txt").write_text(body)
    assert f"Passed ({len(materialised)})" in body, body[-3000:]
    assert "Failed (0)" in body
