"""Bucket events on a real S3 server (SeaweedFS): notifications applied by the library, the endpoint and the CLI;
the bucket's truth decides (replays, stale and reordered events change nothing); a bucket that cannot be watched is
reconciled on a schedule instead."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote_plus

import httpx
import pytest

from conftest import SAMPLES, make_lens
from pixlens.access import Scope, create_key
from pixlens.api.server import key_verifier
from pixlens.events.bucket import EventError
from pixlens.record import Status
from pixlens.service import Pixlens
from s3server import S3Server, start_s3_server
from serving import serve

pytestmark = pytest.mark.slow

PIXLENS = Path(sys.executable).with_name("pixlens")
FEATURES = ["properties"]  # cheap: these tests are about what is analysed, not how


def record(bucket: str, key: str, event: str = "ObjectCreated:Put", **extra: Any) -> dict[str, Any]:
    """An S3 event record as AWS S3 sends it: the key URL-encoded with '+' for a space."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event,
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/"), **extra}},
    }


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


@pytest.fixture
def bucket_lens(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pixlens]:
    monkeypatch.setenv("PIXLENS_STORE", f"s3://{s3_bucket}/photos")
    monkeypatch.setenv("PIXLENS_S3__ENDPOINT_URL", s3_server.endpoint)
    lens = make_lens(tmp_path / "home", analyzers=FEATURES)
    yield lens
    lens.close()


def put(server: S3Server, bucket: str, name: str, sample: str = "rocket.jpg") -> None:
    server.client().upload_file(str(SAMPLES / sample), bucket, name)


def status(lens: Pixlens, key: str) -> Status | None:
    found = lens.catalog.get(key)
    return found.Status if found is not None else None


def test_created_and_removed_events_follow_the_bucket(
    bucket_lens: Pixlens, s3_server: S3Server, s3_bucket: str
) -> None:
    lens = bucket_lens
    names = {"a b.jpg": "rocket.jpg", "été/ünï.png": "chelsea.png", "1+1.png": "coffee.png"}
    for key, sample in names.items():
        put(s3_server, s3_bucket, f"photos/{key}", sample)
    put(s3_server, s3_bucket, "elsewhere/x.jpg")
    put(s3_server, s3_bucket, "photos/notes.txt")
    body = notification(
        *(record(s3_bucket, f"photos/{key}") for key in names),
        record(s3_bucket, "elsewhere/x.jpg"),
        record("another-bucket", "photos/a b.jpg"),
        record(s3_bucket, "photos/notes.txt"),
        record(s3_bucket, "photos/a b.jpg", "s3:ObjectAccessed:Get"),
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": s3_bucket}}},  # no object key
    )
    assert body["Records"][0]["s3"]["object"]["key"] == "photos/a+b.jpg"
    assert body["Records"][2]["s3"]["object"]["key"] == "photos/1%2B1.png"
    events = lens.bucket_events()
    report = events.apply(body)

    assert sorted(report.queued) == sorted(names)
    assert {status(lens, key) for key in names} == {Status.PENDING}
    reasons = [(item.key, item.reason) for item in report.ignored]
    assert len(reasons) == 4, reasons
    assert ("elsewhere/x.jpg", "outside the store's prefix 'photos/'") in reasons
    assert ("photos/a b.jpg", "bucket 'another-bucket' is not the store's ('" + s3_bucket + "')") in reasons
    assert ("photos/notes.txt", "not an image name (or a hidden one, or a folder)") in reasons
    assert any(key == "photos/a b.jpg" and "ObjectAccessed" in reason for key, reason in reasons)
    assert len(report.errors) == 1 and "record 7" in report.errors[0] and "s3.object.key" in report.errors[0]

    lens.run(report.jobs)
    assert {status(lens, key) for key in names} == {Status.ANALYZED}
    assert lens.catalog.get("elsewhere/x.jpg") is None and lens.catalog.get("../elsewhere/x.jpg") is None

    replayed = events.apply(body)  # a duplicate delivery: nothing to do
    assert (replayed.queued, replayed.jobs, sorted(replayed.unchanged)) == ([], [], sorted(names))

    # Removed: forgotten once the bucket no longer has it, the object never touched by pixlens.
    s3_server.client().delete_object(Bucket=s3_bucket, Key="photos/a b.jpg")
    removed = notification(record(s3_bucket, "photos/a b.jpg", "ObjectRemoved:Delete"))
    assert events.apply(removed).forgotten == ["a b.jpg"]
    assert lens.catalog.get("a b.jpg") is None
    assert events.apply(removed).unchanged == ["a b.jpg"]  # replayed
    late = events.apply(notification(record(s3_bucket, "photos/a b.jpg")))  # an older "created", after the delete
    assert (late.queued, late.unchanged) == ([], ["a b.jpg"])
    assert lens.catalog.get("a b.jpg") is None

    # A "removed" event for an object that exists (deleted, then put again): the bucket's truth wins.
    kept = events.apply(notification(record(s3_bucket, "photos/1+1.png", "ObjectRemoved:Delete")))
    assert kept.forgotten == [] and "still has it" in kept.ignored[0].reason
    assert status(lens, "1+1.png") is Status.ANALYZED
    s3_server.client().head_object(Bucket=s3_bucket, Key="photos/1+1.png")  # still there


def test_sns_envelopes_and_filer_notifications(bucket_lens: Pixlens, s3_server: S3Server, s3_bucket: str) -> None:
    lens = bucket_lens
    put(s3_server, s3_bucket, "photos/sns.jpg")
    put(s3_server, s3_bucket, "photos/filer/new.png", "chelsea.png")
    events = lens.bucket_events()
    envelope = {
        "Type": "Notification",
        "MessageId": "1",
        "Message": json.dumps(notification(record(s3_bucket, "photos/sns.jpg"))),
    }
    assert events.apply(envelope).queued == ["sns.jpg"]
    filer = {
        "key": f"/buckets/{s3_bucket}/photos/filer/new.png",
        "event_type": "create",
        "message": {"new_entry": {"name": "new.png", "is_directory": False}},
    }
    assert events.apply(filer).queued == ["filer/new.png"]
    folder = {**filer, "message": {"new_entry": {"name": "filer", "is_directory": True}}}
    assert events.apply(folder).ignored[0].reason == "a folder"
    outside = {**filer, "key": "/etc/seaweedfs/filer.conf"}
    assert "not in a bucket" in events.apply(outside).ignored[0].reason
    # A string holding the JSON (jq -c .Body of an SQS message) is read too.
    assert events.apply_text(json.dumps(json.dumps(envelope))).unchanged == ["sns.jpg"]
    for bad in ("{not json", "[1, 2]", '{"Records": 3}', '{"Type": "SubscriptionConfirmation"}', '{"x": 1}'):
        with pytest.raises(EventError):
            events.apply_text(bad)


def test_the_endpoint_takes_notifications_with_write_scope(
    bucket_lens: Pixlens, s3_server: S3Server, s3_bucket: str
) -> None:
    lens = bucket_lens
    _, reader = create_key(lens.catalog, Scope.READ, "reader")
    _, writer = create_key(lens.catalog, Scope.WRITE, "writer")
    put(s3_server, s3_bucket, "photos/up load.jpg")
    body = notification(record(s3_bucket, "photos/up load.jpg"), record(s3_bucket, "other/x.jpg"))
    write = {"Authorization": f"Bearer {writer}"}
    with serve(lens, key_verifier(lens), headers=write) as served:
        endpoint = f"{served.url}/v1/events/s3"
        assert httpx.post(endpoint, json=body).status_code == 401
        denied = httpx.post(endpoint, json=body, headers={"X-Api-Key": reader})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
        answer = served.client.post("/v1/events/s3", json=body)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {
            "Queued": 1,
            "Forgotten": 0,
            "Unchanged": 0,
            "Ignored": [{"Key": "other/x.jpg", "Reason": "outside the store's prefix 'photos/'"}],
            "Errors": [],
        }
        assert served.wait_for("up load.jpg")["Status"] == "analyzed"
        again = served.client.post("/v1/events/s3", json=body).json()
        assert (again["Queued"], again["Unchanged"]) == (0, 1)

        # SNS posts its envelope as text/plain.
        s3_server.client().delete_object(Bucket=s3_bucket, Key="photos/up load.jpg")
        removed = json.dumps(notification(record(s3_bucket, "photos/up load.jpg", "ObjectRemoved:Delete")))
        sns = json.dumps({"Type": "Notification", "Message": removed})
        headers = {"Content-Type": "text/plain; charset=UTF-8"}
        gone = served.client.post("/v1/events/s3", content=sns, headers=headers)
        assert gone.status_code == 202 and gone.json()["Forgotten"] == 1
        assert served.client.get("/v1/images/up load.jpg").status_code == 404

        for bad in (b"{not json", b'{"Records": [{"eventName": 5}]}', b"[]", b'{"Type": "Notification"}'):
            refused = served.client.post("/v1/events/s3", content=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["code"] == "invalid_event"


def cli_env(s3_server: S3Server, s3_bucket: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(
        COLUMNS="500",
        PIXLENS_STORE=f"s3://{s3_bucket}/photos",
        PIXLENS_S3__ENDPOINT_URL=s3_server.endpoint,
    )
    return environment


def test_the_cli_applies_lines_and_reports_bad_ones(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    put(s3_server, s3_bucket, "photos/one.jpg")
    put(s3_server, s3_bucket, "photos/two words.png", "chelsea.png")
    lines = [
        json.dumps(notification(record(s3_bucket, "photos/one.jpg"))),
        "{this is not json",
        json.dumps(json.dumps(notification(record(s3_bucket, "photos/two words.png")))),  # jq -c .Body
        json.dumps(notification(record("elsewhere", "photos/one.jpg"))),
    ]
    home = tmp_path / "H"
    ran = subprocess.run(
        [str(PIXLENS), "--home", str(home), "--features", ",".join(FEATURES), "events", "-", "--json"],
        input="\n".join(lines) + "\n",
        env=cli_env(s3_server, s3_bucket),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 1, ran.stderr
    assert "line 2: not JSON" in ran.stderr and "Traceback" not in ran.stderr
    summary = json.loads(ran.stdout.splitlines()[-1])
    assert (summary["Queued"], summary["Outcomes"]["Analyzed"]) == (2, 2)
    assert summary["Errors"] == [summary["Errors"][0]] and summary["Errors"][0].startswith("line 2:")
    assert "is not the store's" in summary["Ignored"][0]["Reason"]
    file = tmp_path / "events.jsonl"
    file.write_text(lines[0] + "\n")
    again = subprocess.run(
        [str(PIXLENS), "--home", str(home), "--features", ",".join(FEATURES), "events", str(file)],
        env=cli_env(s3_server, s3_bucket),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "0 queued, 0 forgotten, 1 unchanged" in again.stderr


def until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_watching_a_bucket_reconciles_on_a_schedule(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXLENS_STORE", f"s3://{s3_bucket}/photos")
    monkeypatch.setenv("PIXLENS_S3__ENDPOINT_URL", s3_server.endpoint)
    put(s3_server, s3_bucket, "photos/before.jpg")
    lens = make_lens(tmp_path / "home", analyzers=FEATURES, reconcile_interval=0.2)
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    watching = threading.Thread(target=lens.watch, args=(stop,), kwargs={"on_event": lambda *e: seen.append(e)})
    watching.start()
    try:
        until(lambda: status(lens, "before.jpg") is Status.ANALYZED)
        put(s3_server, s3_bucket, "photos/new/after.png", "chelsea.png")  # no event: only the listing finds it
        until(lambda: status(lens, "new/after.png") is Status.ANALYZED)
        s3_server.client().delete_object(Bucket=s3_bucket, Key="photos/before.jpg")
        until(lambda: lens.catalog.get("before.jpg") is None)
    finally:
        stop.set()
        watching.join(60)
    assert not watching.is_alive()
    assert ("deleted", "before.jpg") in seen and ("queued", "new/after.png") in seen
    assert sum(kind == "reconciled" for kind, _ in seen) >= 3
    lens.close()


def test_pixlens_watch_on_a_bucket_polls(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    put(s3_server, s3_bucket, "photos/polled.jpg")
    env = {**cli_env(s3_server, s3_bucket), "PIXLENS_RECONCILE_INTERVAL": "0.5"}
    lines: list[str] = []
    with subprocess.Popen(
        [str(PIXLENS), "--home", str(tmp_path / "H"), "--features", ",".join(FEATURES), "watch"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)
                if line.startswith("analyzed polled.jpg"):
                    break
        finally:
            process.terminate()
            process.wait(60)
        assert process.stderr is not None
        lines += process.stderr.readlines()  # until it stopped
    shown = "".join(lines)
    assert any(line.startswith("reconciled new 1") for line in lines), shown
    assert "analyzed polled.jpg" in shown and "Traceback" not in shown
    assert lines[-1].strip() == "stopped"


class _Capture(http.server.BaseHTTPRequestHandler):
    """Keeps what a SeaweedFS filer's webhook posts (its Authorization header too)."""

    bodies: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.bodies.append((self.headers.get("Authorization", ""), json.loads(self.rfile.read(length))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_seaweedfs_filer_webhook_drives_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: str
) -> None:
    """A SeaweedFS of its own whose filer posts its events (notification.webhook) to a receiver here: what it sends
    for objects put and deleted through the S3 gateway is applied as it arrives."""
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    folder = tmp_path / "weed"
    folder.mkdir()
    (folder / "notification.toml").write_text(
        "[notification.webhook]\nenabled = true\n"
        f'endpoint = "http://127.0.0.1:{receiver.server_port}/v1/events/s3"\nbearer_token = "plk_test"\n'
        "backoff_seconds = 1\nmax_backoff_seconds = 1\n"
    )
    server = start_s3_server(folder)
    try:
        bucket = server.new_bucket()
        monkeypatch.setenv("PIXLENS_STORE", f"s3://{bucket}/photos")
        monkeypatch.setenv("PIXLENS_S3__ENDPOINT_URL", server.endpoint)
        lens = make_lens(tmp_path / "home", analyzers=FEATURES)
        events = lens.bucket_events()

        def applied_until(condition: Callable[[], bool]) -> None:
            def step() -> bool:
                while _Capture.bodies:
                    token, body = _Capture.bodies.pop(0)
                    assert token == "Bearer plk_test"
                    lens.run(events.apply(body).jobs)
                return condition()

            until(step)

        put(server, bucket, "photos/from filer/é.jpg")
        put(server, bucket, "elsewhere/no.jpg")
        applied_until(lambda: status(lens, "from filer/é.jpg") is Status.ANALYZED)
        server.client().delete_object(Bucket=bucket, Key="photos/from filer/é.jpg")
        applied_until(lambda: lens.catalog.get("from filer/é.jpg") is None)
        assert [state.key for state in lens.catalog.states()] == []
        lens.close()
    finally:
        receiver.shutdown()
        receiver.server_close()
        server.stop()
