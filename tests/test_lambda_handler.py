"""The Lambda entry point end to end: real photos in a SeaweedFS bucket, events written as S3, SQS and EventBridge
send them, the handler called as the Lambda runtime calls it, the catalog and its search checked after.

The tests run on two catalogs: SQLite (the default) and DynamoDB (``dynamodb://TABLE?region=us-east-1``, its table
made as ``pixlens init`` makes it, on moto's server), the pipeline the function is deployed as on AWS. One function
app per catalog (models loaded once, as in a Lambda container) serves the whole module, on its own bucket; each
test uses object names of its own. The DynamoDB tests at the end read the table as AWS's clients would: the raw
item, and the calls the catalog's client makes (Queries, never a Scan; one write of a duplicate)."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError

from awsserver import AwsServer
from badfiles import make_bomb_png_header
from conftest import SAMPLES
from pgserver import fresh_database
from pixlens.aws import lambda_handler
from pixlens.aws.lambda_handler import EventNotDoneError, LambdaApp, handler
from pixlens.catalog import create_catalog, dynamodb_table
from pixlens.catalog.dynamodb import DynamoCatalog
from pixlens.config import load_settings
from pixlens.errors import ConfigError
from pixlens.record import Status
from pixlens.service import Pixlens
from s3server import S3Server, aws_environment

pytestmark = pytest.mark.slow

PREFIX = "photos"
ANALYZERS = '["labels"]'  # the label models are what search needs; the others would only slow the tests down
MARGIN_SECONDS = 2.0
_sequence = itertools.count(0x0062A7F0E1D2C3B4A5)


@dataclass
class Context:
    """The context object the Lambda runtime passes to a handler (its documented interface, the part pixlens uses):
    a request id and the time left, here set by the test."""

    remaining_ms: int = 600_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# -- events as AWS sends them ---------------------------------------------------------------------------------------
def sequencer() -> str:
    """S3's sequencer: hexadecimal, growing with each event of a key."""
    return f"{next(_sequence):018X}"


def s3_record(bucket: str, name: str, event: str = "ObjectCreated:Put", etag: str | None = None) -> dict[str, Any]:
    """A record of an S3 event notification: the key URL-encoded with '+' for a space; eTag and size only for a
    created object."""
    found: dict[str, Any] = {"key": quote_plus(name, safe="/"), "sequencer": sequencer()}
    if event.startswith("ObjectCreated"):
        found = {"key": found["key"], "size": 1024, "eTag": etag or "0" * 32, "sequencer": found["sequencer"]}
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-12-07T10:11:12.345Z",
        "eventName": event,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLEEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "198.51.100.7"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "pixlens-images",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": found,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_message(body: dict[str, Any] | str, message_id: str | None = None) -> dict[str, Any]:
    """A record of an SQS batch as Lambda's event source mapping delivers it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a" + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1796638272345",
            "SenderId": "AIDAEXAMPLEEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1796638272350",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # SQS's own checksum of the body
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pixlens-events",
        "awsRegion": "us-east-1",
    }


def sqs_batch(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(messages)}


def eventbridge(bucket: str, name: str, detail_type: str = "Object Created", etag: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"key": quote_plus(name, safe="/"), "sequencer": sequencer()}
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": found,
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "198.51.100.7",
    }
    if detail_type == "Object Created":
        found.update(size=1024, etag=etag or "0" * 32)
        detail["reason"] = "PutObject"
    elif detail_type == "Object Deleted":
        detail.update({"reason": "DeleteObject", "deletion-type": "Permanently Deleted"})
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-07T10:11:12Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-12-07T10:11:12.345Z",
    "Bucket": "any",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


# -- the function, its bucket and catalog ---------------------------------------------------------------------------
@dataclass
class Function:
    """The module's function app and its bucket."""

    app: LambdaApp
    server: S3Server
    bucket: str
    catalog: str  # "sqlite" or "dynamodb"
    table: str  # the DynamoDB catalog's
    analysed: list[int] = field(default_factory=list)  # images each label-model run took

    @property
    def lens(self) -> Pixlens:
        return self.app.lens

    def put(self, name: str, sample: str | None = None, data: bytes | None = None) -> str:
        """Put an object under the store's prefix; its etag."""
        body = data if data is not None else (SAMPLES / (sample or "rocket.jpg")).read_bytes()
        answer = self.server.client().put_object(Bucket=self.bucket, Key=f"{PREFIX}/{name}", Body=body)
        return str(answer["ETag"]).strip('"')

    def delete(self, name: str) -> None:
        self.server.client().delete_object(Bucket=self.bucket, Key=f"{PREFIX}/{name}")

    def status(self, key: str) -> Status | None:
        found = self.lens.catalog.get(key)
        return found.Status if found is not None else None

    def analyses(self) -> int:
        return sum(self.analysed)


def environment(server: S3Server, bucket: str, home: Path, catalog: str = "") -> dict[str, str]:
    values = {
        **aws_environment(),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PIXLENS_HOME": str(home),
        "PIXLENS_STORE": f"s3://{bucket}/{PREFIX}",
        "PIXLENS_S3__ENDPOINT_URL": server.endpoint,
        "PIXLENS_ANALYZERS": ANALYZERS,
        "PIXLENS_AWS_LAMBDA__SAFETY_MARGIN_SECONDS": str(MARGIN_SECONDS),
    }
    if catalog:
        values["PIXLENS_CATALOG"] = catalog
    return values


CATALOGS = ["sqlite", "dynamodb"]
only_sqlite = pytest.mark.parametrize("function", ["sqlite"], indirect=True)
only_dynamodb = pytest.mark.parametrize("function", ["dynamodb"], indirect=True)


def dynamodb_environment(aws: AwsServer) -> dict[str, str]:
    """DynamoDB's calls to the local endpoint (moto accepts any credentials: the bucket's are kept), S3's to the
    store's own endpoint setting."""
    return {"AWS_ENDPOINT_URL_DYNAMODB": aws.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module", params=CATALOGS)
def function(
    request: pytest.FixtureRequest, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Function]:
    """The function as a Lambda container runs it: built from the environment once, kept for every invocation."""
    catalog: str = request.param
    bucket, table = s3_server.new_bucket(), f"pixlens-{secrets.token_hex(4)}"
    patch = pytest.MonkeyPatch()
    for name in [name for name in os.environ if name.startswith(("AWS_", "PIXLENS_"))]:
        patch.delenv(name)
    home = tmp_path_factory.mktemp(f"lambda-home-{catalog}")
    patch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    values = environment(s3_server, bucket, home)
    if catalog == "dynamodb":
        aws: AwsServer = request.getfixturevalue("aws_server")
        values |= dynamodb_environment(aws) | {"PIXLENS_CATALOG": f"dynamodb://{table}?region=us-east-1"}
    for name, value in values.items():
        patch.setenv(name, value)
    lambda_handler.reset()
    try:
        if catalog == "dynamodb":
            assert create_catalog(os.environ["PIXLENS_CATALOG"])  # what `pixlens init` does
        made = Function(lambda_handler.app(), s3_server, bucket, catalog, table)
        made.app.pipeline.on_timing = lambda name, seconds, images: made.analysed.append(images * (name == "labels"))
        yield made
    finally:
        lambda_handler.reset()
        patch.undo()


def dynamodb() -> Any:
    """A client of the local DynamoDB endpoint of its own (not the catalog's), as any reader of the table has."""
    return boto3.client("dynamodb")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], list[dict[str, Any]]]:
    """The function's JSON log lines so far."""
    caplog.set_level(logging.INFO, logger="pixlens.aws")

    def lines() -> list[dict[str, Any]]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "pixlens.aws"]

    return lines


def object_lines(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in lines if line["event"] == "object"}


# -- the tests ------------------------------------------------------------------------------------------------------
def test_s3_notification_created_searched_removed(function: Function, logs: Callable[[], list[Any]]) -> None:
    cat, rocket = "été/a cat+dog 1.png", "launch (2) 100%.jpg"
    function.put(cat, "chelsea.png")
    function.put(rocket, "rocket.jpg")
    event = s3_event(
        s3_record(function.bucket, f"{PREFIX}/{cat}"),
        s3_record(function.bucket, f"{PREFIX}/{rocket}", "ObjectCreated:CompleteMultipartUpload"),
        s3_record("someone-elses-bucket", f"{PREFIX}/{cat}"),
        s3_record(function.bucket, f"uploads/{cat}"),
    )
    assert event["Records"][0]["s3"]["object"]["key"] == "photos/%C3%A9t%C3%A9/a+cat%2Bdog+1.png"

    assert handler(event, Context()) == {"outcomes": {"analyzed": 2}}
    assert function.status(cat) is Status.ANALYZED and function.status(rocket) is Status.ANALYZED
    assert cat in [hit.key for hit in function.lens.search("cat").hits]
    lines = object_lines(logs())
    assert lines[cat]["outcome"] == "analyzed" and lines[cat]["ms"] > 0
    refused = [line for line in logs() if line.get("outcome") == "refused"]
    assert sorted(line["reason"] for line in refused) == [
        f"bucket 'someone-elses-bucket' is not the store's ({function.bucket!r})",
        "outside the store's prefix 'photos/'",
    ]

    # The bucket decides: a removal is followed once the object is gone, and replaying it changes nothing.
    function.delete(cat)
    removed = s3_event(s3_record(function.bucket, f"{PREFIX}/{cat}", "ObjectRemoved:Delete"))
    assert handler(removed, Context()) == {"outcomes": {"forgotten": 1}}
    assert function.lens.catalog.get(cat) is None
    assert cat not in [hit.key for hit in function.lens.search("cat").hits]
    assert handler(removed, Context()) == {"outcomes": {"absent": 1}}
    kept = s3_event(s3_record(function.bucket, f"{PREFIX}/{rocket}", "ObjectRemoved:DeleteMarkerCreated"))
    assert handler(kept, Context()) == {"outcomes": {"kept": 1}}
    assert function.status(rocket) is Status.ANALYZED


def test_sqs_batch_answers_exactly_the_messages_to_deliver_again(
    function: Function, logs: Callable[[], list[Any]]
) -> None:
    function.put("sqs/coffee cup.png", "coffee.png")
    good = sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/sqs/coffee cup.png")))
    not_json = sqs_message('{"Records": [{"eventName": "ObjectCreated:Put", ', "malformed-body")
    bad_record = sqs_message(
        s3_event(
            s3_record(function.bucket, f"{PREFIX}/sqs/never there.jpg"),
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": function.bucket}}},
        ),
        "malformed-record",
    )
    missing = sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/sqs/deleted before.jpg")), "missing")
    test_event = sqs_message(TEST_EVENT)
    via_sns = sqs_message(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": json.dumps(s3_event(s3_record(function.bucket, f"{PREFIX}/sqs/coffee cup.png"))),
        }
    )
    answer = handler(sqs_batch(good, not_json, bad_record, missing, test_event, via_sns), Context())

    assert answer == {
        "batchItemFailures": [{"itemIdentifier": "malformed-body"}, {"itemIdentifier": "malformed-record"}]
    }
    assert function.status("sqs/coffee cup.png") is Status.ANALYZED
    lines = logs()
    objects = object_lines(lines)
    assert objects["sqs/deleted before.jpg"]["outcome"] == "absent"  # gone: nothing to analyse, nothing to retry
    assert objects["sqs/coffee cup.png"]["message_ids"] == sorted([good["messageId"], via_sns["messageId"]])
    malformed = [line for line in lines if line.get("outcome") == "malformed"]
    assert [line["message_id"] for line in malformed] == ["malformed-body", "malformed-record"]
    assert "not JSON" in malformed[0]["reason"] and "record 1: no s3.object.key" in malformed[1]["reason"]
    assert any(line["event"] == "test_event" for line in lines)
    summary = [line for line in lines if line["event"] == "invocation"][-1]
    assert (summary["source"], summary["deliveries"], summary["failed"]) == ("sqs", 6, 2)


def test_eventbridge_created_and_deleted(function: Function) -> None:
    name = "bridge/the rocket.jpg"
    etag = function.put(name, "rocket.jpg")
    assert handler(eventbridge(function.bucket, f"{PREFIX}/{name}", etag=etag), Context()) == {
        "outcomes": {"analyzed": 1}
    }
    record = function.lens.catalog.get(name)
    assert record is not None and record.ETag == etag and record.Status is Status.ANALYZED
    restored = eventbridge(function.bucket, f"{PREFIX}/{name}", "Object Restore Completed")
    assert handler(restored, Context()) == {"outcomes": {}}
    function.delete(name)
    assert handler(eventbridge(function.bucket, f"{PREFIX}/{name}", "Object Deleted"), Context()) == {
        "outcomes": {"forgotten": 1}
    }
    assert function.lens.catalog.get(name) is None
    # EventBridge sends on to SQS too.
    assert handler(sqs_batch(sqs_message(eventbridge(function.bucket, f"{PREFIX}/{name}"))), Context()) == {
        "batchItemFailures": []
    }


def test_s3_test_event_is_ignored(function: Function, logs: Callable[[], list[Any]]) -> None:
    assert handler(TEST_EVENT, Context()) == {"outcomes": {}}
    assert [line["event"] for line in logs()] == ["test_event", "invocation"]


def test_a_duplicate_event_is_analysed_once_and_an_older_one_changes_nothing(function: Function) -> None:
    name = "dup/astronaut.png"
    first = function.put(name, "astronaut.png")
    event = s3_event(s3_record(function.bucket, f"{PREFIX}/{name}", etag=first))
    before = function.analyses()
    twice = sqs_batch(sqs_message(event), sqs_message(event))  # S3 delivers at least once: twice in one batch
    assert handler(twice, Context()) == {"batchItemFailures": []}
    assert handler(event, Context()) == {"outcomes": {"unchanged": 1}}  # and once more later
    assert function.analyses() - before == 1

    # A newer version, then the older version's event arriving late: the newer outcome stays.
    second = function.put(name, "camera.png")
    newer = s3_event(s3_record(function.bucket, f"{PREFIX}/{name}", etag=second))
    assert handler(newer, Context()) == {"outcomes": {"analyzed": 1}}
    assert handler(event, Context()) == {"outcomes": {"unchanged": 1}}
    record = function.lens.catalog.get(name)
    camera = hashlib.sha256((SAMPLES / "camera.png").read_bytes()).hexdigest()
    assert record is not None and record.ETag == second and record.ContentSha256 == camera
    assert function.analyses() - before == 2


def test_an_object_changed_while_it_was_analysed_is_analysed_again(function: Function) -> None:
    name, gone = "race/cat.png", "race/deleted.png"
    function.put(name, "chelsea.png")
    function.put(gone, "coffee.png")
    timing = function.app.pipeline.on_timing
    assert timing is not None
    changes = [lambda: function.put(name, "camera.png"), lambda: function.delete(gone)]

    def meanwhile(analyser: str, seconds: float, images: int) -> None:
        timing(analyser, seconds, images)
        if changes:  # after the models ran on the first versions, before their records are written
            for change in changes:
                change()
            changes.clear()

    function.app.pipeline.on_timing = meanwhile
    before = function.analyses()
    try:
        event = s3_event(s3_record(function.bucket, f"{PREFIX}/{name}"), s3_record(function.bucket, f"{PREFIX}/{gone}"))
        assert handler(event, Context()) == {"outcomes": {"analyzed": 1, "forgotten": 1}}
    finally:
        function.app.pipeline.on_timing = timing
    record = function.lens.catalog.get(name)
    camera = hashlib.sha256((SAMPLES / "camera.png").read_bytes()).hexdigest()
    assert record is not None and record.ContentSha256 == camera and record.Status is Status.ANALYZED
    assert function.lens.catalog.get(gone) is None
    assert function.analyses() - before == 3  # both first versions, then the newer one


def test_images_that_cannot_be_analysed_become_failed_records(function: Function, tmp_path: Path) -> None:
    function.put("bad/notes.jpg", data=b"shopping list: milk, eggs\n")
    function.put("bad/huge.png", data=make_bomb_png_header(tmp_path).read_bytes())
    batch = sqs_batch(
        sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/bad/notes.jpg"))),
        sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/bad/huge.png"))),
    )
    assert handler(batch, Context()) == {"batchItemFailures": []}  # a failure is data: delivering again changes nothing
    notes, huge = function.lens.catalog.get("bad/notes.jpg"), function.lens.catalog.get("bad/huge.png")
    assert notes is not None and notes.Status is Status.FAILED and "not an image" in (notes.Error or "")
    assert huge is not None and huge.Status is Status.FAILED and "too large" in (huge.Error or "")


def test_a_timeout_mid_batch_leaves_nothing_behind(function: Function) -> None:
    names = [f"late/rocket {n}.jpg" for n in range(3)]
    for number, name in enumerate(names):
        function.put(name, data=(SAMPLES / "rocket.jpg").read_bytes() + bytes([number]))  # three contents
    messages = [sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/{name}"))) for name in names]
    context = Context()
    timing = function.app.pipeline.on_timing
    assert timing is not None

    def after_a_batch(name: str, seconds: float, images: int) -> None:
        timing(name, seconds, images)
        context.remaining_ms = int(MARGIN_SECONDS * 1000) - 1  # the clock runs out during the first batch

    function.lens.settings.batch_size = 1
    function.app.pipeline.on_timing = after_a_batch
    try:
        answer = handler(sqs_batch(*messages), context)
    finally:
        function.app.pipeline.on_timing = timing
        function.lens.settings.batch_size = 8
    unfinished = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    assert unfinished == [message["messageId"] for message in messages[1:]]
    assert [function.status(name) for name in names] == [Status.ANALYZED, Status.PENDING, Status.PENDING]

    # SQS delivers them again (after the visibility timeout): the pending images are the delivery's job.
    assert handler(sqs_batch(*messages[1:]), Context()) == {"batchItemFailures": []}
    assert [function.status(name) for name in names] == [Status.ANALYZED] * 3

    # Invoked directly, the same timeout raises, so that Lambda keeps the event and retries it.
    function.put("late/direct.jpg", "chelsea.png")
    with pytest.raises(EventNotDoneError, match="unfinished: not started"):
        handler(s3_event(s3_record(function.bucket, f"{PREFIX}/late/direct.jpg")), Context(remaining_ms=1000))
    assert function.status("late/direct.jpg") is Status.PENDING


def test_malformed_direct_invocations_raise(function: Function) -> None:
    with pytest.raises(EventNotDoneError, match="not a bucket notification"):
        handler({"hello": "world"}, Context())
    function.put("direct/ok.jpg", "rocket.jpg")
    event = s3_event(s3_record(function.bucket, f"{PREFIX}/direct/ok.jpg"), {"eventName": "ObjectCreated:Put"})
    with pytest.raises(EventNotDoneError, match=r"record 1: no s3\.bucket\.name, s3\.object\.key"):
        handler(event, Context())
    assert function.status("direct/ok.jpg") is Status.ANALYZED  # the readable record was applied


@only_sqlite
def test_in_lambda_the_module_loads_everything_before_the_first_event(function: Function, tmp_path: Path) -> None:
    code = (
        "import json, pixlens.aws.lambda_handler as m; "
        "print(json.dumps({'built': m._app is not None, 'models': m._app.pipeline.versions if m._app else {}}))"
    )
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "pixlens-test", "PIXLENS_HOME": str(tmp_path / "container")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["built"] and list(loaded["models"]) == ["labels"]
    assert "the catalog is a SQLite file in" in done.stderr  # one per container: said at start


def test_the_home_is_under_tmp_and_the_store_must_be_a_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PIXLENS_HOME", raising=False)
    assert lambda_handler.settings_from_environment().home == Path("/tmp/pixlens")
    folder = tmp_path / "images"
    folder.mkdir()
    with pytest.raises(ConfigError, match="bucket events need a bucket store"):
        LambdaApp(Pixlens(load_settings(tmp_path / "home", store=str(folder))))


def test_end_to_end_on_postgresql(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_server.new_bucket()
    with fresh_database() as url:
        for name, value in environment(s3_server, bucket, tmp_path / "home", catalog=url).items():
            monkeypatch.setenv(name, value)
        app = LambdaApp.from_environment()
        try:
            s3_server.client().upload_file(str(SAMPLES / "chelsea.png"), bucket, f"{PREFIX}/the cat.png")
            created = s3_event(s3_record(bucket, f"{PREFIX}/the cat.png"))
            assert app.handle(sqs_batch(sqs_message(created)), Context()) == {"batchItemFailures": []}
            assert [hit.key for hit in app.lens.search("cat").hits] == ["the cat.png"]
            s3_server.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/the cat.png")
            removed = s3_event(s3_record(bucket, f"{PREFIX}/the cat.png", "ObjectRemoved:Delete"))
            assert app.handle(removed, Context()) == {"outcomes": {"forgotten": 1}}
            assert app.lens.search("cat").hits == []
        finally:
            app.lens.close()


# -- on DynamoDB: the table as AWS's own clients read it ------------------------------------------------------------
WRITES = frozenset({"PutItem", "TransactWriteItems", "UpdateItem", "DeleteItem", "BatchWriteItem"})
Call = tuple[str, dict[str, Any]]  # an operation of the catalog's DynamoDB client and its parameters


@contextmanager
def dynamodb_calls(function: Function) -> Iterator[list[Call]]:
    """The calls the catalog's DynamoDB client makes meanwhile (botocore's event hooks on that very client: the
    catalog has one, made from a session of its own)."""
    catalog = function.lens.catalog
    assert isinstance(catalog, DynamoCatalog)
    events = catalog.table.client.meta.events
    made: list[Call] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, params))

    events.register("before-parameter-build.dynamodb", note)
    try:
        yield made
    finally:
        events.unregister("before-parameter-build.dynamodb", note)


def record_puts(calls: list[Call], key: str) -> list[str]:
    """The statuses written by the PutItem and TransactWriteItems calls that put the image item of ``key``."""
    items = [params["Item"] for operation, params in calls if operation == "PutItem"]
    items += [
        action["Put"]["Item"]
        for operation, params in calls
        if operation == "TransactWriteItems"
        for action in params["TransactItems"]
        if "Put" in action
    ]
    return [item["Status"]["S"] for item in items if item["ImageName"] == {"S": key}]


@only_dynamodb
def test_on_dynamodb_the_record_is_an_item_of_the_original_shape_and_search_is_a_query(function: Function) -> None:
    name = "ddb/the cat.png"
    function.put(name, "chelsea.png")
    created = sqs_batch(sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/{name}"))))
    assert handler(created, Context()) == {"batchItemFailures": []}

    item = dynamodb().get_item(TableName=function.table, Key={"ImageName": {"S": name}})["Item"]
    assert item["ImageName"] == {"S": name} and item["Status"] == {"S": "analyzed"}
    labels = [label["M"] for label in item["Labels"]["L"]]
    assert labels and all("S" in label["Name"] and "N" in label["Confidence"] for label in labels)
    assert "Cat" in [label["Name"]["S"] for label in labels]
    assert all(0 < float(label["Confidence"]["N"]) <= 100 for label in labels)

    with dynamodb_calls(function) as calls:
        assert name in [hit.key for hit in function.lens.search("cat").hits]
    operations = Counter(operation for operation, _ in calls)
    assert operations["Query"] >= 1 and "Scan" not in operations and not WRITES & set(operations)
    assert {params["IndexName"] for operation, params in calls if operation == "Query"} == {"pxEntries"}

    function.delete(name)
    removed = s3_event(s3_record(function.bucket, f"{PREFIX}/{name}", "ObjectRemoved:Delete"))
    assert handler(removed, Context()) == {"outcomes": {"forgotten": 1}}
    assert "Item" not in dynamodb().get_item(TableName=function.table, Key={"ImageName": {"S": name}})
    with dynamodb_calls(function) as calls:
        assert name not in [hit.key for hit in function.lens.search("cat").hits]
    assert "Scan" not in {operation for operation, _ in calls}
    assert function.lens.catalog.check() == []  # no index item, count or chunk of it left behind


@only_dynamodb
def test_on_dynamodb_a_duplicate_event_writes_the_record_once(function: Function) -> None:
    name = "ddb/dup rocket.jpg"
    etag = function.put(name, "rocket.jpg")
    event = s3_event(s3_record(function.bucket, f"{PREFIX}/{name}", etag=etag))
    with dynamodb_calls(function) as calls:
        assert handler(sqs_batch(sqs_message(event), sqs_message(event)), Context()) == {"batchItemFailures": []}
    assert record_puts(calls, name) == ["pending", "analyzed"]  # marked pending once, its analysis written once

    with dynamodb_calls(function) as calls:  # delivered again later: read, and nothing written
        assert handler(event, Context()) == {"outcomes": {"unchanged": 1}}
    assert not WRITES & {operation for operation, _ in calls}


@only_dynamodb
def test_on_dynamodb_a_throttled_write_is_delivered_again_and_nothing_is_lost(
    function: Function, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "ddb/throttled cup.png"
    function.put(name, "coffee.png")
    message = sqs_message(s3_event(s3_record(function.bucket, f"{PREFIX}/{name}")))
    monkeypatch.setattr(dynamodb_table, "_pause", lambda attempt: None)  # the rounds between retries
    catalog = function.lens.catalog
    assert isinstance(catalog, DynamoCatalog)
    refused: list[str] = []

    def throttle(params: dict[str, Any], model: Any, **_: Any) -> None:
        if record_puts([(model.name, params)], name) == ["analyzed"]:  # DynamoDB throttling the record's write
            refused.append(model.name)
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}
            raise ClientError({"Error": error}, model.name)

    catalog.table.client.meta.events.register("before-parameter-build.dynamodb", throttle)
    try:
        answer = handler(sqs_batch(message), Context())
    finally:
        catalog.table.client.meta.events.unregister("before-parameter-build.dynamodb", throttle)
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    assert len(refused) == dynamodb_table.THROTTLE_ROUNDS + 1  # sent again a few rounds, then reported
    assert function.status(name) is Status.PENDING  # kept: the message is the image's job

    assert handler(sqs_batch(message), Context()) == {"batchItemFailures": []}  # SQS delivers it again
    assert function.status(name) is Status.ANALYZED
