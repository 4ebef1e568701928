"""The DynamoDB catalog's own promises, against moto's server on 127.0.0.1 (the ``aws`` fixture): items under
400 KB, a replayed write written once, label Queries paginated past 1 MB, hot entries over several shards,
throttling (botocore's Stubber), a missing or foreign table, ``pixlens init``, ``text:`` and ``near:``, the
webhook deliveries' lease, the check, and the CLI on a folder store with a DynamoDB catalog. What every catalog
promises is in ``test_catalog_port.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from awsserver import AwsServer
from catalog_records import keys, label, record
from conftest import SAMPLES
from pixlens.catalog import create_catalog, dynamodb_table, dynamodb_write, open_catalog
from pixlens.catalog.base import DeliveryRow
from pixlens.catalog.dynamodb import DynamoCatalog, connection_of
from pixlens.catalog.dynamodb_items import part_names
from pixlens.catalog.dynamodb_schema import table_definition
from pixlens.catalog.dynamodb_table import ConditionFailedError, Connection, Table
from pixlens.errors import CatalogError, ConfigError
from pixlens.query import Term, parse
from pixlens.record import ImageRecord

PIXLENS = Path(sys.executable).with_name("pixlens")
URL = "dynamodb://pixlens-test"


@pytest.fixture
def catalog(aws: AwsServer, tmp_path: Path) -> Iterator[DynamoCatalog]:
    create_catalog(URL)
    opened = open_catalog(URL, home=tmp_path)
    assert isinstance(opened, DynamoCatalog)
    try:
        yield opened
    finally:
        opened.close()


def raw(catalog: DynamoCatalog, name: str) -> dict[str, Any]:
    answer = catalog.table.client.get_item(TableName=catalog.table.name, Key={"ImageName": {"S": name}})
    item: dict[str, Any] = answer["Item"]
    return item


def exact(*entries: str) -> Any:
    return lambda term: list(entries)


# --- items under 400 KB ---------------------------------------------------------------------------------------


def big_record(key: str) -> ImageRecord:
    """A page of text: 4,000 words with their polygons, about 1.3 MB of JSON."""
    rec = record(key, label("Document", 91.0), label("Text", 88.0))
    polygon = [{"X": 0.123456789 + i / 1000, "Y": 0.987654321 - i / 1000} for i in range(4)]
    box = {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.05}
    rec.TextDetections = [
        {"DetectedText": f"word{i} receipt" if i % 2 else f"line {i} total due", "Type": "WORD" if i % 2 else "LINE",
         "Id": i, "Confidence": 97.5, "Geometry": {"BoundingBox": box, "Polygon": polygon}}
        for i in range(4000)
    ]  # fmt: skip
    return rec


def test_a_record_over_400_kb_keeps_its_item_small_and_reads_back_whole(catalog: DynamoCatalog) -> None:
    rec = big_record("scans/page.png")
    assert len(rec.to_json()) > 1_000_000
    catalog.put([rec])
    item = raw(catalog, "scans/page.png")
    assert "TextDetections" not in item and "pxParts" in item
    assert item["Labels"]["L"][0]["M"]["Name"] == {"S": "Document"}  # the original's readers still read Labels
    back = catalog.get("scans/page.png")
    assert back == rec
    assert keys(catalog.search(parse("x"), exact("text:line 10 total due"))) == ["scans/page.png"]
    # a smaller record later: the chunks of the big one go
    chunks = part_names(int(item["pxId"]["N"]), catalog.table.get("scans/page.png", fields=["pxParts"])["pxParts"])
    assert len(chunks) >= 1 and len(catalog.table.batch_get(chunks)) == len(chunks)
    catalog.put([record("scans/page.png", label("Document", 90.0), etag="e2")])
    assert "pxParts" not in raw(catalog, "scans/page.png")
    assert catalog.table.batch_get(chunks) == {}
    assert catalog.check() == []


# --- conditional writes ---------------------------------------------------------------------------------------


def test_a_replayed_write_writes_once(catalog: DynamoCatalog) -> None:
    first = record("a.jpg", label("Car", 90.0))
    catalog.put([first])
    revision = raw(catalog, "a.jpg")["pxRev"]
    again = record("a.jpg", label("Car", 90.0))
    again.AnalyzedAt = "2026-02-02T00:00:00Z"  # the same event analysed again: same content, versions and etag
    catalog.put([again])
    assert raw(catalog, "a.jpg")["pxRev"] == revision
    assert catalog.get("a.jpg") == first
    newer = record("a.jpg", label("Car", 90.0), etag="e2")  # the object changed: written
    catalog.put([newer])
    assert raw(catalog, "a.jpg")["pxRev"] != revision


def test_a_writer_that_read_before_another_wrote_is_refused(catalog: DynamoCatalog) -> None:
    catalog.mark_pending([("a.jpg", "e1")])
    seen = catalog.table.get("a.jpg", consistent=True)
    catalog.put([record("a.jpg", label("Car", 90.0))])
    with pytest.raises(ConditionFailedError):
        catalog.writer._write(record("a.jpg", label("Bus", 80.0)), seen)
    assert keys(catalog.search(parse("car"), exact("Car"))) == ["a.jpg"]
    assert catalog.search(parse("bus"), exact("Bus")) == []
    assert catalog.status_counts() == {"pending": 0, "analyzed": 1, "failed": 0}


# --- Queries ----------------------------------------------------------------------------------------------------


def test_a_label_query_pages_past_one_megabyte(catalog: DynamoCatalog) -> None:
    """2,500 images of one label with a long name: its list is about 1.6 MB, several Query pages."""
    name = "Car " + "x" * 600
    catalog.put([record(f"{i:05}.jpg", label(name, 50.0 + (i % 500) / 10)) for i in range(3)])
    writes = [
        {"ImageName": f"/ix/{i}/{name}", "pxEntry": f"{name}#0", "pxRank": (50_000 + (i % 500) * 100) * 10**10 + i}
        for i in range(10, 2510)
    ] + [{"ImageName": f"/id/{i}", "pxRef": f"bulk/{i:05}.jpg"} for i in range(10, 2510)]
    catalog.table.batch_write(writes)
    catalog.table.update(f"/count/{name}", "SET pxRank = :n", values={":n": 2503})
    pages = []
    catalog.table.client.meta.events.register("after-call.dynamodb.Query", lambda **_: pages.append(1))
    hits, total = catalog.page(parse("car"), exact(name), limit=5)
    assert total == 2503 and len(pages) >= 2
    assert [hit.score for hit in hits] == [99.9] * 5
    assert [hit.key for hit in hits] == [f"bulk/{i:05}.jpg" for i in (2499, 1999, 1499, 999, 499)]
    following, _ = catalog.page(parse("car"), exact(name), limit=5, after=hits[-1].place)
    assert [(hit.key, hit.score) for hit in following[:2]] == [("bulk/02498.jpg", 99.8), ("bulk/01998.jpg", 99.8)]


def test_a_hot_label_spreads_over_shards_and_is_read_from_all(
    catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_write, "HOT_ENTRY", 3)
    catalog.put([record(f"{i:02}.jpg", label("Person", 60.0 + i)) for i in range(12)])
    shards = catalog.table.get("/count/Person", fields=["pxShards"])
    assert shards is not None and int(shards["pxShards"]) > 1
    assert keys(catalog.search(parse("person"), exact("Person"), limit=100)) == [
        f"{i:02}.jpg" for i in range(11, -1, -1)
    ]
    assert catalog.labels() == [("Person", 12)]
    catalog.delete([f"{i:02}.jpg" for i in range(12)])
    assert catalog.labels() == [] and catalog.check() == []


def test_text_and_near(catalog: DynamoCatalog) -> None:
    sign = record("sign.jpg", label("Sign", 80.0))
    sign.TextDetections = [{"DetectedText": "OPEN 24 Hours", "Type": "LINE", "Confidence": 99.0}]
    sign.Exif = {"GPS": {"Latitude": 48.8584, "Longitude": 2.2945}}
    other = record("other.jpg", label("Sign", 70.0))
    other.TextDetections = [{"DetectedText": "hours open", "Type": "LINE", "Confidence": 99.0}]
    other.Exif = {"GPS": {"Latitude": 51.5007, "Longitude": -0.1246}}
    catalog.put([sign, other])
    assert keys(catalog.search(parse("x"), exact("text:open 24 hour"))) == ["sign.jpg"]  # stems, any case
    assert sorted(keys(catalog.search(parse("x"), exact("text:open")))) == ["other.jpg", "sign.jpg"]
    assert catalog.search(parse("x"), exact("text:closed")) == []
    assert keys(catalog.search(parse("x"), exact("near:48.85,2.29,5"))) == ["sign.jpg"]
    assert sorted(keys(catalog.search(parse("x"), exact("near:50,1,400")))) == ["other.jpg", "sign.jpg"]
    assert catalog.stats()["with_text"] == 2


# --- throttling and errors ------------------------------------------------------------------------------------


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Table, Stubber]]:
    monkeypatch.setattr(dynamodb_table, "_pause", lambda attempt: None)
    client = boto3.session.Session().client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        yield Table(Connection("t"), client), stubber


def test_throttled_requests_are_sent_again_then_reported(stubbed: tuple[Table, Stubber]) -> None:
    table, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    stubber.add_response("get_item", {"Item": {"ImageName": {"S": "a.jpg"}}})
    assert table.get("a.jpg") == {"ImageName": "a.jpg"}
    for _ in range(dynamodb_table.THROTTLE_ROUNDS + 1):
        stubber.add_client_error("query", "ProvisionedThroughputExceededException", http_status_code=400)
    with pytest.raises(CatalogError, match="kept throttling"):
        list(table.query("Car#0"))
    stubber.assert_no_pending_responses()


def test_unprocessed_batch_items_are_sent_again(stubbed: tuple[Table, Stubber]) -> None:
    table, stubber = stubbed
    left = {"t": [{"PutRequest": {"Item": {"ImageName": {"S": "b"}}}}]}
    stubber.add_response("batch_write_item", {"UnprocessedItems": left})
    stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": left})
    table.batch_write([{"ImageName": "a"}, {"ImageName": "b"}])
    first = {
        "Responses": {"t": [{"ImageName": {"S": "a"}}]},
        "UnprocessedKeys": {"t": {"Keys": [{"ImageName": {"S": "b"}}]}},
    }
    stubber.add_response("batch_get_item", first)
    stubber.add_response("batch_get_item", {"Responses": {"t": [{"ImageName": {"S": "b"}}]}})
    assert sorted(table.batch_get(["a", "b"])) == ["a", "b"]
    stubber.assert_no_pending_responses()


def test_refused_credentials_are_a_config_error(stubbed: tuple[Table, Stubber]) -> None:
    table, stubber = stubbed
    stubber.add_client_error("get_item", "UnrecognizedClientException", "The security token is invalid", 400)
    with pytest.raises(ConfigError, match="refused the credentials"):
        table.get("a.jpg")


def test_retry_mode_and_attempts_come_from_the_url(aws: AwsServer) -> None:
    table = Table(connection_of("dynamodb://t?region=eu-west-1&retry_mode=adaptive&max_attempts=12"))
    assert table.client.meta.region_name == "eu-west-1"
    assert table.client.meta.config.retries == {"total_max_attempts": 12, "mode": "adaptive"}
    with pytest.raises(ConfigError, match="retry_mode"):
        connection_of("dynamodb://t?retry_mode=eager")
    with pytest.raises(ConfigError, match="unknown option"):
        connection_of("dynamodb://t?regoin=eu-west-1")


def test_a_missing_table_names_pixlens_init(aws: AwsServer, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="pixlens init"):
        open_catalog("dynamodb://nothing-here", home=tmp_path)


def test_no_region_and_no_server_are_clear_errors(
    aws: AwsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="needs a region"):
        open_catalog("dynamodb://t", home=tmp_path)
    with pytest.raises(CatalogError, match="Could not connect"):
        open_catalog("dynamodb://t?region=us-east-1&endpoint=http://127.0.0.1:9&max_attempts=1", home=tmp_path)


def test_a_table_of_the_original_pipeline_is_not_opened_as_a_catalog(aws: AwsServer, tmp_path: Path) -> None:
    client = boto3.client("dynamodb")
    client.create_table(TableName="images", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "ImageName", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "ImageName", "KeyType": "HASH"}])  # fmt: skip
    with pytest.raises(CatalogError, match="import dynamodb"):
        open_catalog("dynamodb://images", home=tmp_path)


# --- hooks, check ---------------------------------------------------------------------------------------------


def test_deliveries_are_claimed_once_under_a_lease(catalog: DynamoCatalog) -> None:
    hook = catalog.add_hook("cars", "car", "http://127.0.0.1:1/hook", None, "2026-01-01T00:00:00Z")
    assert hook is not None and catalog.add_hook("cars", "x", "http://x", None, "2026-01-01T00:00:00Z") is None
    catalog.put([record("a.jpg", label("Car", 90.0))])
    assert catalog.unmatched() == ["a.jpg"]
    due = "2026-01-01T00:00:00.000Z"
    delivery = DeliveryRow("d1", hook.id, "cars", "a.jpg", "{}", "pending", 0, due, None, due, None)
    catalog.add_deliveries([delivery], ["a.jpg"])
    assert catalog.unmatched() == []
    (claimed,) = catalog.claim_deliveries("2026-01-01T00:00:01.000Z", "2026-01-01T00:05:00.000Z", 10)
    assert claimed.id == "d1"
    assert catalog.claim_deliveries("2026-01-01T00:00:02.000Z", "2026-01-01T00:05:00.000Z", 10) == []
    catalog.update_delivery(DeliveryRow("d1", hook.id, "cars", "a.jpg", "{}", "delivered", 1, None, None, due, due))
    assert [(d.id, d.status) for d in catalog.deliveries("cars")] == [("d1", "delivered")]
    assert catalog.claim_deliveries("2027-01-01T00:00:00.000Z", "2027-01-01T00:05:00.000Z", 10) == []
    assert catalog.remove_hook("cars") and catalog.deliveries() == []


def test_check_finds_a_count_that_disagrees(catalog: DynamoCatalog) -> None:
    catalog.put([record("a.jpg", label("Car", 90.0)), record("b.jpg", label("Car", 80.0))])
    assert catalog.check() == []
    catalog.table.update("/count/Car", "SET pxRank = :n", values={":n": 5})
    assert catalog.check() == ["entry counts that disagree with the index: 1"]


# --- init and the CLI -----------------------------------------------------------------------------------------


def cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", **env)
    return subprocess.run([str(PIXLENS), *map(str, args)], env=environment, capture_output=True, text=True, timeout=300)


def test_init_creates_the_table_and_the_cli_answers_from_it(aws: AwsServer, tmp_path: Path) -> None:
    env = {"PIXLENS_CATALOG": "dynamodb://photos?region=us-east-1", "PIXLENS_HOME": str(tmp_path / "home")}
    missing = cli("search", "cat", env=env)
    assert missing.returncode != 0 and "pixlens init" in missing.stderr and "Traceback" not in missing.stderr

    made = cli("init", env=env)
    assert made.returncode == 0, made.stderr
    described = boto3.client("dynamodb").describe_table(TableName="photos")["Table"]
    wanted = table_definition("photos")
    assert described["KeySchema"] == wanted["KeySchema"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = described["GlobalSecondaryIndexes"]
    assert (index["IndexName"], index["KeySchema"]) == (wanted["GlobalSecondaryIndexes"][0]["IndexName"],
                                                        wanted["GlobalSecondaryIndexes"][0]["KeySchema"])  # fmt: skip
    assert cli("init", env=env).returncode == 0  # a second init finds the table

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "rocket.jpg"):
        shutil.copy(SAMPLES / name, photos / name)
    ingested = cli("--features", "labels", "ingest", photos, env=env)
    assert ingested.returncode == 0, ingested.stderr
    found = cli("search", "cat", "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert next(json.loads(line)["ImageName"] for line in found.stdout.splitlines()) == "photos/chelsea.png"
    shown = json.loads(cli("show", "photos/chelsea.png", env=env).stdout)
    assert shown["Status"] == "analyzed" and shown["Labels"]
    labels = cli("labels", env=env)
    assert labels.returncode == 0 and "Cat" in labels.stdout
    stats = cli("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    numbers = json.loads(stats.stdout)
    assert (numbers["Images"], numbers["Analyzed"]) == (2, 2) and numbers["Catalog"].startswith("dynamodb://photos ")
    raw_item = boto3.client("dynamodb").get_item(TableName="photos", Key={"ImageName": {"S": "photos/chelsea.png"}})
    assert {"Name", "Confidence"} <= set(raw_item["Item"]["Labels"]["L"][0]["M"])


def test_a_term_with_weights(catalog: DynamoCatalog) -> None:
    catalog.put([record("a.jpg", label("Cat", 90.0)), record("b.jpg", label("Lynx", 95.0))])

    def resolve(term: Term) -> dict[str, float]:
        return {"Cat": 1.0, "Lynx": 0.5}

    hits = catalog.search(parse("cat"), resolve)
    assert [(hit.key, hit.score) for hit in hits] == [("a.jpg", 90.0), ("b.jpg", 47.5)]
