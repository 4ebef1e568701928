"""Migration: ``pixlens import dynamodb`` reads tables as the original pipeline's Lambda functions wrote them (a real
table on moto's server, filled by boto3), ``pixlens export`` writes catalogs out, and the two round-trip."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsserver import AwsServer
from conftest import SAMPLES, make_lens
from pixlens import shapes
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.errors import MigrationError
from pixlens.migrate.dynamodb_import import IMPORTED_VERSION, TableSource, import_table
from pixlens.migrate.export import DYNAMODB_JSON, JSONL, ExportReport, write_export
from pixlens.migrate.legacy_labels import LabelReader
from pixlens.migrate.typed import from_typed_item, to_typed_item
from pixlens.record import Status
from pixlens.service import Pixlens

PHOTOS = ("000000377575.jpg", "000000358083.jpg", "000000214753.jpg")  # a dog, a cat, horses


def pixlens_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process (the AWS variables of the ``aws`` fixture are inherited)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment["COLUMNS"] = "500"
    command = [str(Path(sys.executable).with_name("pixlens")), *map(str, args)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def make_table(name: str = "images", key: str = "ImageName") -> Any:
    """A table as the original pipeline's template made it: on-demand, keyed by one string attribute."""
    resource = boto3.resource("dynamodb")
    table = resource.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def detect_labels_response() -> dict[str, Any]:
    """A DetectLabels response as Rekognition returns it (numbers as the resource layer needs them)."""
    return {
        "Labels": [
            {
                "Name": "Dog",
                "Confidence": Decimal("98.41"),
                "Instances": [
                    {
                        "BoundingBox": {
                            "Width": Decimal("0.41"),
                            "Height": Decimal("0.55"),
                            "Left": Decimal("0.12"),
                            "Top": Decimal("0.3"),
                        },
                        "Confidence": Decimal("95.5"),
                    }
                ],
                "Parents": [{"Name": "Animal"}, {"Name": "Canine"}, {"Name": "Mammal"}, {"Name": "Pet"}],
                "Aliases": [{"Name": "Puppy"}],
                "Categories": [{"Name": "Animals and Pets"}],
            },
            {
                "Name": "Golden Retriever",
                "Confidence": Decimal("81.2"),
                "Instances": [],
                "Parents": [{"Name": "Dog"}, {"Name": "Animal"}],
                "Aliases": [],
                "Categories": [{"Name": "Animals and Pets"}],
            },
            {
                "Name": "Pet",  # no such label in pixlens's taxonomy: kept by name, with its own parents
                "Confidence": Decimal("98.41"),
                "Instances": [],
                "Parents": [{"Name": "Animal"}],
                "Aliases": [],
                "Categories": [{"Name": "Animals and Pets"}],
            },
        ],
        "LabelModelVersion": "3.0",
    }


def fill_every_shape(table: Any) -> None:
    """One item per shape that the original Lambda functions write, through boto3 as they do."""
    put = table.put_item
    # boto3's resource layer: a list of {Name, Confidence} maps, numbers as Decimal (the common one)
    put(Item={"ImageName": "resource.jpg", "Labels": [
        {"Name": "Car", "Confidence": Decimal("99.1")}, {"Name": "Automobile", "Confidence": Decimal("99.1")},
        {"Name": "Person", "Confidence": Decimal("87.25")},
    ]})  # fmt: skip
    # a list of names, no confidences
    put(Item={"ImageName": "names.jpg", "Labels": ["Cat", "Pet"]})
    # a string set of names
    put(Item={"ImageName": "set.jpg", "labels": {"Horse", "Person"}})
    # a map name -> confidence
    put(Item={"ImageName": "map.jpg", "DetectedLabels": {"Dog": Decimal("91.5"), "Grass": Decimal("70")}})
    # JSON strings of those shapes (a function that json.dumps'ed the labels to avoid Decimal)
    put(Item={"ImageName": "json-list.jpg", "Labels": json.dumps([{"Name": "Bus", "Confidence": 93.75}])})
    put(Item={"ImageName": "json-map.jpg", "Labels": json.dumps({"Bicycle": 88.5})})
    put(Item={"ImageName": "json-names.jpg", "Labels": json.dumps(["Bird"])})
    # confidences as strings (str(label["Confidence"]), the other way around Decimal)
    put(Item={"ImageName": "strings.jpg", "Labels": [{"Name": "Truck", "Confidence": "76.5"}]})
    # the whole DetectLabels response kept in one attribute
    put(Item={"ImageName": "response.jpg", "Response": detect_labels_response()})
    # typed values handed to the resource layer: the low-level shape stored as data
    typed = to_typed_item({"Labels": [{"Name": "Elephant", "Confidence": 96.0}]})["Labels"]
    put(Item={"ImageName": "typed.jpg", "Labels": typed})
    # comma-separated names
    put(Item={"ImageName": "comma.jpg", "Tags": "Boat, Person"})
    # no labels at all (Rekognition found nothing above MinConfidence)
    put(Item={"ImageName": "nothing.jpg", "Labels": []})
    # the low-level client's put_item, typed attribute values as the API takes them
    boto3.client("dynamodb").put_item(
        TableName=table.name,
        Item={
            "ImageName": {"S": "client.jpg"},
            "Labels": {"L": [{"M": {"Name": {"S": "Dog"}, "Confidence": {"N": "97.125"}}}]},
        },
    )


def labels_of(lens: Pixlens, key: str) -> dict[str, float]:
    record = lens.catalog.get(key)
    assert record is not None, key
    return {label.Name: label.Confidence for label in record.Labels}


def test_every_shape_the_original_functions_wrote_is_imported(aws: AwsServer, home: Path) -> None:
    table = make_table()
    fill_every_shape(table)
    done = pixlens_cli("--home", home, "import", "dynamodb", "images", "--json")
    assert done.returncode == 0, done.stderr
    (summary,) = json_lines(done.stdout)
    assert summary == {
        "Table": "images",
        "DryRun": False,
        "Scanned": 13,
        "Imported": 13,
        "Kept": 0,
        "Skipped": 0,
        "SkippedByReason": [],
        "LabelsAttributes": [
            {"Attribute": name, "Items": count}
            for name, count in (("DetectedLabels", 1), ("Labels", 9), ("Response", 1), ("Tags", 1), ("labels", 1))
        ],
    }
    lens = make_lens(home)
    try:
        # Car and its alias Automobile are one label; names that the taxonomy knows get its parents
        assert labels_of(lens, "resource.jpg") == {"Car": 99.1, "Person": 87.25}
        car = lens.catalog.get("resource.jpg").Labels[0]  # type: ignore[union-attr]
        taxonomy = Taxonomy.load()
        assert [parent.Name for parent in car.Parents] == list(taxonomy.info("Car").parents)
        assert [category.Name for category in car.Categories] == list(taxonomy.info("Car").categories)
        # bare names: Rekognition's default MinConfidence, the least each had
        assert labels_of(lens, "names.jpg") == {"Cat": 55.0, "Pet": 55.0}
        assert labels_of(lens, "set.jpg") == {"Horse": 55.0, "Person": 55.0}
        assert labels_of(lens, "map.jpg") == {"Dog": 91.5, "Grass": 70.0}
        assert labels_of(lens, "json-list.jpg") == {"Bus": 93.75}
        assert labels_of(lens, "json-map.jpg") == {"Bicycle": 88.5}
        assert labels_of(lens, "json-names.jpg") == {"Bird": 55.0}
        assert labels_of(lens, "strings.jpg") == {"Truck": 76.5}
        assert labels_of(lens, "typed.jpg") == {"Elephant": 96.0}
        assert labels_of(lens, "comma.jpg") == {"Boat": 55.0, "Person": 55.0}
        assert labels_of(lens, "nothing.jpg") == {}
        assert labels_of(lens, "client.jpg") == {"Dog": 97.125}
        response = lens.catalog.get("response.jpg")
        assert response is not None
        assert response.LabelModelVersion == "3.0"
        assert [(label.Name, label.Confidence) for label in response.Labels] == [
            ("Dog", 98.41), ("Pet", 98.41), ("Golden Retriever", 81.2),
        ]  # fmt: skip
        dog, pet, _ = response.Labels
        assert dog.Instances[0].BoundingBox.Left == 0.12 and dog.Instances[0].Confidence == 95.5
        assert [parent.Name for parent in dog.Parents] == list(taxonomy.info("Dog").parents)
        assert "Animal" in [parent.Name for parent in pet.Parents]  # the item's own parents, for a name pixlens lacks
        assert [category.Name for category in pet.Categories] == ["Animals and Pets"]
        for key in ("resource.jpg", "response.jpg", "nothing.jpg"):
            record = lens.catalog.get(key)
            assert record is not None
            assert record.Status is Status.ANALYZED
            assert record.AnalyzerVersions == {"labels": IMPORTED_VERSION} == {"labels": "imported:dynamodb"}
            assert record.ContentSha256 is None and record.ETag is None
        assert lens.check() == []
    finally:
        lens.close()


def test_unreadable_items_are_skipped_counted_and_reported(aws: AwsServer, home: Path) -> None:
    table = make_table()
    table.put_item(Item={"ImageName": "good.jpg", "Labels": [{"Name": "Dog", "Confidence": Decimal("90")}]})
    table.put_item(Item={"ImageName": "number.jpg", "Labels": 5})
    table.put_item(Item={"ImageName": "abc.jpg", "Labels": [{"Name": "Dog", "Confidence": "abc"}]})
    table.put_item(Item={"ImageName": "over.jpg", "Labels": [{"Name": "Dog", "Confidence": Decimal("120")}]})
    table.put_item(Item={"ImageName": "huge.jpg", "Labels": [f"Thing {n}" for n in range(1001)]})
    table.put_item(Item={"ImageName": "unlabelled.jpg", "Bucket": "photos"})
    table.put_item(Item={"ImageName": "nameless.jpg", "Labels": [{"Confidence": Decimal("90")}]})
    table.put_item(Item={"ImageName": "broken-json.jpg", "Labels": '[{"Name": "Dog"'})
    keyed_by_id = make_table("legacy", key="Id")  # a table whose key is not the image's name
    keyed_by_id.put_item(Item={"Id": "1"})  # an empty item: only its key
    keyed_by_id.put_item(Item={"Id": "2", "Labels": ["Dog"]})  # no ImageName
    keyed_by_id.put_item(Item={"Id": "3", "ImageName": 7, "Labels": ["Dog"]})  # a name that is a number
    keyed_by_id.put_item(Item={"Id": "4", "ImageName": "fine.jpg", "Labels": ["Dog"]})

    done = pixlens_cli("--home", home, "import", "dynamodb", "images", "--json")
    assert done.returncode == 1, done.stderr  # some items skipped
    *skips, summary = json_lines(done.stdout)
    reasons = {skip["Item"]: (skip["Kind"], skip["Error"]) for skip in skips}
    kind, reason = reasons.pop("unlabelled.jpg")
    assert kind == "no-labels" and reason.startswith("no labels attribute (looked for: labels, detectedlabels,")
    assert reasons == {
        "number.jpg": ("bad-labels", "Labels is a number (5), not labels"),
        "abc.jpg": ("bad-confidence", "Labels[0] (Dog): confidence 'abc' is not a number"),
        "over.jpg": ("bad-confidence", "Labels[0] (Dog): confidence Decimal('120') is not within 0-100"),
        "huge.jpg": ("too-many-labels", "Labels holds 1001 labels, more than DetectLabels returns (1000)"),
        "nameless.jpg": ("bad-labels", "Labels[0] has no Name"),
        "broken-json.jpg": ("bad-labels", 'a string that starts like JSON but is not: \'[{"Name": "Dog"\''),
    }
    assert all(skip["Outcome"] == "skipped" for skip in skips)
    assert (summary["Scanned"], summary["Imported"], summary["Skipped"]) == (8, 1, 7)
    assert summary["SkippedByReason"] == [
        {"Kind": "bad-confidence", "Items": 2}, {"Kind": "bad-labels", "Items": 3},
        {"Kind": "no-labels", "Items": 1}, {"Kind": "too-many-labels", "Items": 1},
    ]  # fmt: skip

    legacy = pixlens_cli("--home", home, "import", "dynamodb", "legacy")
    assert legacy.returncode == 1
    assert "skipped Id=1: no ImageName attribute" in legacy.stderr
    assert "skipped Id=2: no ImageName attribute" in legacy.stderr
    assert "skipped Id=3: ImageName is a number (7), not a string" in legacy.stderr
    said = (
        "4 items read from legacy: 1 imported, 0 kept as analysed here, 3 skipped (1 bad-image-name, 2 no-image-name)"
    )
    assert said in legacy.stderr
    lens = make_lens(home)
    try:
        assert sorted(state.key for state in lens.catalog.states()) == ["fine.jpg", "good.jpg"]
    finally:
        lens.close()


def test_a_scan_of_many_pages_and_segments_reads_every_item_once(aws: AwsServer, home: Path) -> None:
    table = make_table()
    with table.batch_writer() as batch:
        for number in range(25):
            batch.put_item(Item={"ImageName": f"photo-{number:02}.jpg", "Labels": [
                {"Name": "Dog" if number % 2 else "Cat", "Confidence": Decimal(60 + number)},
            ]})  # fmt: skip
    done = pixlens_cli("--home", home, "import", "dynamodb", "images", "--page-size", "4", "--segments", "3", "--json")
    assert done.returncode == 0, done.stderr
    (summary,) = json_lines(done.stdout)
    assert (summary["Scanned"], summary["Imported"]) == (25, 25)
    lens = make_lens(home)
    try:
        assert len(list(lens.catalog.states())) == 25
        assert labels_of(lens, "photo-24.jpg") == {"Cat": 84.0}
    finally:
        lens.close()


def test_dynamodbs_own_one_megabyte_pages_are_followed(aws: AwsServer, lens: Pixlens) -> None:
    table = make_table()
    padding = "x" * 5000  # about 5 KB an item: 260 items are more than one 1 MB page
    with table.batch_writer() as batch:
        for number in range(260):
            batch.put_item(Item={"ImageName": f"{number}.jpg", "Labels": ["Dog"], "Note": padding})
    pages: list[int] = []
    report = import_table(lens.catalog, TableSource("images"), LabelReader(lens.taxonomy), on_page=pages.append)
    assert len(pages) >= 2 and sum(pages) == 260
    assert (report.scanned, report.imported, sum(report.skipped.values())) == (260, 260, 0)


def test_imported_images_are_found_by_label_and_by_parent(aws: AwsServer, home: Path) -> None:
    table = make_table()
    fill_every_shape(table)
    assert pixlens_cli("--home", home, "import", "dynamodb", "images").returncode == 0

    def found(query: str) -> set[str]:
        done = pixlens_cli("--home", home, "search", query, "--json", "--limit", "100")
        assert done.returncode == 0, done.stderr
        return {hit["ImageName"] for hit in json_lines(done.stdout)}

    assert found("dog") == {"map.jpg", "response.jpg", "client.jpg"}
    assert found("vehicle") >= {"resource.jpg", "json-list.jpg", "strings.jpg", "json-map.jpg"}  # a parent
    assert found("automobile") == {"resource.jpg"}  # Rekognition's alias, now pixlens's Car
    assert found("animal") >= {"map.jpg", "response.jpg", "names.jpg", "set.jpg", "typed.jpg", "json-names.jpg"}
    # a name the taxonomy lacks, kept as it was (the lexicon also reads "pet" as dogs and cats)
    assert found("pet") >= {"names.jpg", "response.jpg"}


def test_a_dry_run_writes_nothing_and_a_missing_table_is_an_error(aws: AwsServer, home: Path) -> None:
    table = make_table()
    fill_every_shape(table)
    dry = pixlens_cli("--home", home, "import", "dynamodb", "images", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json_lines(dry.stdout)[-1]["Imported"] == 13
    lens = make_lens(home)
    try:
        assert list(lens.catalog.states()) == []
        with pytest.raises(MigrationError, match="no DynamoDB table 'nope' in us-east-1"):
            import_table(lens.catalog, TableSource("nope"), LabelReader(lens.taxonomy))
    finally:
        lens.close()
    missing = pixlens_cli("--home", home, "import", "dynamodb", "nope")
    assert missing.returncode == 2 and "no DynamoDB table 'nope'" in missing.stderr


@pytest.fixture
def photos_home(tmp_path: Path) -> Iterator[Pixlens]:
    """A home whose store holds three sample photos, analysed by the bundled models."""
    home = tmp_path / "photos"
    store = home / "images"
    store.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, store / name)
    lens = make_lens(home)
    report = lens.ingest([store])
    assert [result.outcome.value for result in report.results] == ["analyzed"] * 3
    yield lens
    lens.close()


def test_export_writes_every_record_as_show_prints_it_and_as_dynamodb_json(
    photos_home: Pixlens, tmp_path: Path
) -> None:
    home = photos_home.settings.home
    jsonl = pixlens_cli("--home", home, "export", "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    assert "3 records written to standard output (jsonl)" in jsonl.stderr
    lines = json_lines(jsonl.stdout)
    assert [line["ImageName"] for line in lines] == sorted(PHOTOS)
    for line in lines:
        shown = pixlens_cli("--home", home, "show", line["ImageName"])
        assert json.loads(shown.stdout) == line

    target = tmp_path / "out" / "images.json"
    target.parent.mkdir()
    typed = pixlens_cli("--home", home, "export", "--format", "dynamodb-json", "--output", target)
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout == "" and os.listdir(target.parent) == ["images.json"]  # no temporary file left
    items = json_lines(target.read_text())
    assert len(items) == 3 and all(list(item) == ["Item"] for item in items)
    for item, line in zip(items, lines, strict=True):
        assert item["Item"]["ImageName"] == {"S": line["ImageName"]}
        first = item["Item"]["Labels"]["L"][0]["M"]
        assert first["Name"] == {"S": line["Labels"][0]["Name"]}
        assert first["Confidence"] == {"N": repr(line["Labels"][0]["Confidence"])}
        plain = from_typed_item(item["Item"])
        assert plain["ImageName"] == line["ImageName"] and "Error" not in plain  # absent values are left out

    bad = pixlens_cli("--home", home, "export", "--format", "csv")
    assert bad.returncode == 2 and "must be one of jsonl, dynamodb-json" in bad.stderr


def test_export_to_dynamodb_and_import_back_keeps_labels_and_confidences(
    photos_home: Pixlens, aws: AwsServer, tmp_path: Path
) -> None:
    target = tmp_path / "images.json"
    with target.open("w", encoding="utf-8") as stream:
        report = write_export(photos_home.catalog, DYNAMODB_JSON, stream)
    assert (report.records, report.reduced) == (3, 0)
    make_table("restored")
    client = boto3.client("dynamodb")
    for line in json_lines(target.read_text()):  # as DynamoDB's import from S3 would put them
        client.put_item(TableName="restored", Item=line["Item"])
    home = tmp_path / "restored-home"
    done = pixlens_cli("--home", home, "import", "dynamodb", "restored", "--json")
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[-1]["Imported"] == 3
    restored = make_lens(home)
    try:
        for name in PHOTOS:
            original, back = photos_home.catalog.get(name), restored.catalog.get(name)
            assert original is not None and back is not None
            assert [(label.Name, label.Confidence) for label in back.Labels] == [
                (label.Name, label.Confidence) for label in original.Labels
            ]
            assert [label.model_dump() for label in back.Labels] == [label.model_dump() for label in original.Labels]
            assert back.AnalyzerVersions == {"labels": "imported:dynamodb"}
    finally:
        restored.close()


def test_import_keeps_what_was_analysed_here_and_reconcile_reanalyses_imports_in_the_store(
    photos_home: Pixlens, aws: AwsServer
) -> None:
    home = photos_home.settings.home
    table = make_table()
    analysed_here = labels_of(photos_home, PHOTOS[0])
    table.put_item(Item={"ImageName": PHOTOS[0], "Labels": ["Zebra"]})  # in the catalog already: kept
    table.put_item(Item={"ImageName": "elsewhere.jpg", "Labels": ["Zebra"]})  # no image in the store
    table.put_item(Item={"ImageName": "arrives.jpg", "Labels": ["Zebra"]})  # its image comes into the store later
    photos_home.close()
    done = pixlens_cli("--home", home, "import", "dynamodb", "images", "--json")
    assert done.returncode == 0, done.stderr
    assert (json_lines(done.stdout)[-1]["Imported"], json_lines(done.stdout)[-1]["Kept"]) == (2, 1)

    shutil.copy(SAMPLES / PHOTOS[1], home / "images" / "arrives.jpg")
    lens = make_lens(home)
    try:
        assert labels_of(lens, PHOTOS[0]) == analysed_here
        plan = lens.plan_reconcile()
        assert [job.key for job in plan.changed] == ["arrives.jpg"]  # imported, no etag: analysed here now
        assert plan.deleted == [] and plan.summary()["imported_only"] == 1  # elsewhere.jpg has no image: kept
        lens.apply_reconcile(plan)
        lens.run(plan.jobs())
        arrived = lens.catalog.get("arrives.jpg")
        assert arrived is not None and arrived.Status is Status.ANALYZED
        assert arrived.AnalyzerVersions == lens.versions and "Zebra" not in labels_of(lens, "arrives.jpg")
        assert labels_of(lens, "elsewhere.jpg") == {"Zebra": 55.0}
    finally:
        lens.close()


def test_typed_values_round_trip() -> None:
    values = {"ImageName": "a b.jpg", "Size": 12, "Ratio": 0.1, "Ok": True, "None": None, "L": [1, "x", {"k": []}]}
    typed = to_typed_item(values)
    assert typed["Ratio"] == {"N": "0.1"} and typed["Ok"] == {"BOOL": True} and typed["None"] == {"NULL": True}
    back = from_typed_item(typed)
    assert back == {**values, "Size": Decimal(12), "Ratio": Decimal("0.1"), "L": [Decimal(1), "x", {"k": []}]}
    assert shapes.export_summary(ExportReport(JSONL, records=2)) == {"Format": "jsonl", "Records": 2, "Reduced": 0}


def test_the_migration_page_runs_real_commands() -> None:
    """Every ``pixlens ...`` in the shell blocks of docs/MIGRATION.md (the synopsis with its [options] aside) is a
    command the CLI has, with its options."""
    from test_deploy import check_pixlens_argv, pixlens_invocations

    page = (Path(__file__).resolve().parent.parent / "docs" / "MIGRATION.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", page, flags=re.DOTALL)
    lines = [
        line.split("  #", 1)[0].split(" > ", 1)[0] for block in blocks for line in block.splitlines() if "[" not in line
    ]
    commands = [invocation for line in lines for invocation in pixlens_invocations(line)]
    assert len(commands) >= 6
    for argv in commands:
        check_pixlens_argv(argv)


def test_import_into_postgresql_and_export_from_it(aws: AwsServer, tmp_path: Path) -> None:
    """The catalog the settings name: here PostgreSQL (--catalog), the same import and export."""
    from pgserver import fresh_database

    table = make_table()
    fill_every_shape(table)
    home = tmp_path / "home"
    with fresh_database() as url:
        done = pixlens_cli("--home", home, "--catalog", url, "import", "dynamodb", "images", "--json")
        assert done.returncode == 0, done.stderr
        assert json_lines(done.stdout)[-1]["Imported"] == 13
        search = pixlens_cli("--home", home, "search", "vehicle", "--json")
        assert {hit["ImageName"] for hit in json_lines(search.stdout)} >= {"resource.jpg", "json-list.jpg"}
        exported = pixlens_cli("--home", home, "export", "--format", "dynamodb-json")
        assert exported.returncode == 0, exported.stderr
        items = [from_typed_item(line["Item"]) for line in json_lines(exported.stdout)]
        assert len(items) == 13
        by_name = {item["ImageName"]: item for item in items}
        assert [(label["Name"], label["Confidence"]) for label in by_name["client.jpg"]["Labels"]] == [
            ("Dog", Decimal("97.125"))
        ]
