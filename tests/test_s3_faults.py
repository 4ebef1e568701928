"""The S3 server goes away mid-run and comes back (a restart): every image ends analysed once, none lost, none
silently skipped; while it is away, the images it could not give are failed records that say so, and the next
reconcile with retries takes them up again."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from conftest import SAMPLES, make_lens, sample_files
from pixlens.pipeline import Result
from pixlens.record import Status
from s3server import aws_environment, start_s3_server

pytestmark = pytest.mark.slow

FEATURES = ["labels", "thumbnail"]


def test_an_s3_server_restarted_mid_run_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_s3_server(tmp_path / "s3")
    try:
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            monkeypatch.delenv(name)
        for name, value in aws_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        bucket = server.new_bucket()
        names = sample_files()
        client = server.client()
        for name in names:
            client.upload_file(str(SAMPLES / name), bucket, f"in/{name}")
        monkeypatch.setenv("PIXLENS_STORE", f"s3://{bucket}/in")
        monkeypatch.setenv("PIXLENS_S3__ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("PIXLENS_S3__MAX_ATTEMPTS", "2")
        monkeypatch.setenv("PIXLENS_S3__CONNECT_TIMEOUT", "1")
        lens = make_lens(tmp_path / "home", analyzers=FEATURES)

        some_done = threading.Event()
        results: list[Result] = []

        def on_result(result: Result) -> None:
            results.append(result)
            if len(results) == 2:
                some_done.set()

        done_when_stopped: list[int] = []

        def outage() -> None:
            some_done.wait(120)
            server.crash()
            done_when_stopped.append(len(results))
            server.restart(down_for=3.0)

        away = threading.Thread(target=outage)
        away.start()
        lens.reconcile(on_result=on_result)
        away.join()

        assert done_when_stopped[0] < len(names)  # the server went away mid-run
        states = {state.key: state for state in lens.catalog.states()}
        assert sorted(states) == sorted(names)  # every image has a record, none skipped
        failed = [key for key, state in states.items() if state.status is Status.FAILED]
        unfinished = {key: state.status for key, state in states.items() if state.status is Status.PENDING}
        assert not unfinished
        for key in failed:
            record = lens.show(key)
            assert record is not None and record.Error and "S3" in record.Error, record

        lens.reconcile(retry_failed=True)
        states = {state.key: state for state in lens.catalog.states()}
        assert {key: state.status for key, state in states.items()} == dict.fromkeys(names, Status.ANALYZED)
        assert lens.check() == []
        assert lens.search("cat").total >= 1
        lens.close()
    finally:
        server.stop()
