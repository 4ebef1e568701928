"""The record: one JSON document per image, in Amazon Rekognition's field names and shapes.

Confidences are 0-100; boxes are ratios of the image's width and height.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    PENDING = "pending"
    ANALYZED = "analyzed"
    FAILED = "failed"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class BoundingBox(_Shape):
    Left: float
    Top: float
    Width: float
    Height: float


class Instance(_Shape):
    BoundingBox: BoundingBox
    Confidence: float


class NameRef(_Shape):
    Name: str


class Label(_Shape):
    Name: str
    Confidence: float
    Instances: list[Instance] = Field(default_factory=list)
    Parents: list[NameRef] = Field(default_factory=list)
    Aliases: list[NameRef] = Field(default_factory=list)
    Categories: list[NameRef] = Field(default_factory=list)


class ImageRecord(_Shape):
    ImageName: str
    ContentSha256: str | None = None
    Size: int | None = None
    ContentType: str | None = None
    Width: int | None = None
    Height: int | None = None
    Status: Status = Status.PENDING
    Error: str | None = None
    AnalyzedAt: str | None = None
    Labels: list[Label] = Field(default_factory=list)
    LabelModelVersion: str | None = None
    TextDetections: list[dict[str, Any]] = Field(default_factory=list)
    FaceDetails: list[dict[str, Any]] = Field(default_factory=list)
    ModerationLabels: list[dict[str, Any]] = Field(default_factory=list)
    ImageProperties: dict[str, Any] | None = None
    PerceptualHash: str | None = None  # 64-bit perceptual hash (hex), for near-duplicates
    Thumbnail: str | None = None  # path of the WebP thumbnail, relative to the home folder
    # The cascade: "<analyser>.<step>" -> why that step did not run (skipped work is recorded, not absent).
    Skipped: dict[str, str] = Field(default_factory=dict)
    Exif: dict[str, Any] = Field(default_factory=dict)
    # Where Exif.GPS is: {City, Region, Country, CountryCode} from the offline gazetteer (analysis/places.py).
    Location: dict[str, str] | None = None
    # Vectors live beside the record in the catalog's vector index, not in its JSON.
    ImageEmbedding: list[float] | None = Field(default=None, exclude=True)
    FaceEmbeddings: list[list[float]] = Field(default_factory=list, exclude=True)
    # name -> version of every analyser that produced this record; reconcile compares it with the current ones.
    AnalyzerVersions: dict[str, str] = Field(default_factory=dict)
    # The store's change token (etag, or mtime-size for a folder) seen when the bytes were read.
    ETag: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)

    def indexed_labels(self) -> dict[str, float]:
        """Every label and parent of the record with its confidence: what the inverted index holds. A parent takes
        its best child's confidence, unless the record has that label itself: then its own (a Truck at 30 stays 30
        beside a Pickup Truck at 90)."""
        best: dict[str, float] = {}
        for label in self.Labels:
            for parent in label.Parents:
                best[parent.Name] = max(best.get(parent.Name, 0.0), label.Confidence)
        own: dict[str, float] = {}
        for label in self.Labels:
            own[label.Name] = max(own.get(label.Name, 0.0), label.Confidence)
        return best | own

    def categories(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for label in self.Labels:
            for category in label.Categories:
                best[category.Name] = max(best.get(category.Name, 0.0), label.Confidence)
        return best


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
