"""The DynamoDB catalog's table, as plain data: what ``pixlens init`` creates when the table is missing, and what the
deployment template must declare (a test compares the two).

One table, keyed by ``ImageName`` alone (as the original pipeline's), and one global secondary index over
``(pxEntry, pxRank)``: every sorted list the catalog reads (an index entry's images, best first; the images of a
status; the people; the vector log...) is one partition of that index. See ``dynamodb.py`` for the layout.
"""

from __future__ import annotations

from typing import Any

KEY = "ImageName"
ENTRY = "pxEntry"  # the index's partition key: which list an item belongs to
RANK = "pxRank"  # the index's sort key: an item's place in that list (a number, read best first)
INDEX = "pxEntries"
# What a Query on the index returns besides the keys: a small number or a reference per index item, and what
# reconcile needs of an image item (so that listing states reads no image item).
PROJECTED = ["pxV", "pxRef", "ETag", "ContentSha256", "AnalyzerVersions"]


def table_definition(table: str) -> dict[str, Any]:
    """The ``CreateTable`` parameters of a catalog table named ``table`` (on-demand capacity)."""
    return {
        "TableName": table,
        "AttributeDefinitions": [
            {"AttributeName": KEY, "AttributeType": "S"},
            {"AttributeName": ENTRY, "AttributeType": "S"},
            {"AttributeName": RANK, "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": ENTRY, "KeyType": "HASH"},
                    {"AttributeName": RANK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(PROJECTED)},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
