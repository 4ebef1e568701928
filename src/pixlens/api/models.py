"""The response shapes of the API, for its OpenAPI schema; the objects themselves come from :mod:`pixlens.shapes`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Shape):
    code: str
    message: str
    position: int | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input (code says what: bad_request, invalid_query, invalid_key...)"},
    401: {"model": ErrorBody, "description": "No valid API key"},
    403: {"model": ErrorBody, "description": "The key's scope does not allow this"},
    503: {"model": ErrorBody, "description": "The catalog cannot be reached"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such image"}}


class Uploaded(Shape):
    ImageName: str
    Status: str  # pending, analyzed, failed, unchanged... or rejected (with Error)
    Location: str | None = None
    Error: ErrorBody | None = None


class UploadAnswer(Shape):
    Images: list[Uploaded]


class MatchedLabel(Shape):
    Name: str
    Confidence: float


class MatchedFacet(Shape):
    """A category, colour, moderation label, text phrase, date, camera, place, size or orientation that matched;
    Score: its confidence, pixel percentage, or 100 for a fact (taken:2019-06, place:paris)."""

    Kind: Literal[
        "Category", "Color", "Moderation", "Text", "Taken", "Make", "Model", "Place", "Region", "Country", "Size",
        "Orientation", "Is",
    ]  # fmt: skip
    Name: str
    Score: float


class MatchedPerson(Shape):
    """A person that matched (``person:``), with the name as it is now (null until named)."""

    Kind: Literal["Person"]
    PersonId: int
    Name: str | None
    Score: float


class MatchedCount(Shape):
    """``faces``/``has:faces`` (the number of faces), ``has:text`` (lines of text) or ``has:people`` (people boxed)."""

    Kind: Literal["Faces", "HasText", "People"]
    Count: int


MatchedEntry = Annotated[MatchedFacet | MatchedPerson | MatchedCount, Field(discriminator="Kind")]


class SearchHit(Shape):
    ImageName: str
    Score: float
    Labels: list[MatchedLabel]  # the labels that matched (a parent's confidence is its best child's)
    Matched: list[MatchedEntry]  # what else matched: categories, colours, people, faces, text...


class NamedCount(Shape):
    Name: str
    Count: int


class PersonCount(Shape):
    PersonId: int
    Name: str | None
    Count: int


class FacetCounts(Shape):
    Labels: list[NamedCount]
    Categories: list[NamedCount]
    Colors: list[NamedCount]
    HasText: int
    Faces: int
    People: list[PersonCount]


class SearchAnswer(Shape):
    Images: list[SearchHit]
    Total: int
    NextCursor: str | None
    Unknown: dict[str, list[str]]
    Facets: FacetCounts | None = None


class SimilarImage(Shape):
    ImageName: str
    Similarity: float


class SimilarAnswer(Shape):
    Images: list[SimilarImage]


class DuplicateLink(Shape):
    Images: list[str]
    HashDistance: int | None
    Similarity: float | None


class DuplicateGroup(Shape):
    Images: list[str]
    Identical: bool
    Links: list[DuplicateLink]


class DuplicatesAnswer(Shape):
    Groups: list[DuplicateGroup]


class LabelCount(Shape):
    Name: str
    Images: int


class LabelsAnswer(Shape):
    Labels: list[LabelCount]


class FaceRef(Shape):
    ImageName: str
    BoundingBox: dict[str, float] | None


class Person(Shape):
    PersonId: int
    Name: str | None
    Faces: int
    Images: int
    Face: FaceRef | None = None


class PeopleAnswer(Shape):
    People: list[Person]


class PersonName(Shape):
    Name: str | None


class Queued(Shape):
    ImageName: str
    Status: str
    Location: str


class FailureRow(Shape):
    ImageName: str
    Error: str | None
    At: str


class StatsAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")  # a catalog may count more (Labels, Faces, Bytes...)

    Images: int
    Pending: int
    Analyzed: int
    Failed: int
    QueueDepth: int
    Throughput: float
    Ready: bool
    WorkersError: str | None
    RecentFailures: list[FailureRow]


class Health(Shape):
    Status: str
    Detail: str | None = None


class HookIn(Shape):
    Name: str
    Query: str
    Url: str
    Secret: str | None = None


class Hook(Shape):
    Name: str
    Query: str
    Url: str
    HasSecret: bool
    CreatedAt: str


class HookAdded(Hook):
    Unknown: dict[str, list[str]]  # words of the query that match no label yet, with suggestions


class HooksAnswer(Shape):
    Hooks: list[Hook]


class Delivery(Shape):
    DeliveryId: str
    Hook: str
    ImageName: str
    Status: str  # pending, delivered, dead
    Attempts: int
    LastError: str | None
    NextAttemptAt: str | None
    CreatedAt: str
    DeliveredAt: str | None


class DeliveriesAnswer(Shape):
    Deliveries: list[Delivery]


class EventShape(BaseModel):
    """A part of a bucket notification: other fields are allowed (and ignored), the named ones are checked."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class S3Bucket(EventShape):
    name: str


class S3Object(EventShape):
    key: str = Field(description="The object's name, URL-encoded with '+' for a space.")
    eTag: str | None = None  # noqa: N815 (S3's own field names)
    size: int | None = None
    sequencer: str | None = None


class S3Entity(EventShape):
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(EventShape):
    eventName: str = Field(  # noqa: N815
        description="ObjectCreated:* or ObjectRemoved:* (with or without 's3:'); other events are ignored."
    )
    s3: S3Entity


class S3Notification(EventShape):
    """S3 event records, as AWS S3 (through SQS, SNS or a Lambda), MinIO or Ceph RGW send them."""

    Records: list[S3EventRecord]


class SnsEnvelope(EventShape):
    """An SNS notification whose ``Message`` is an S3 notification as JSON text (its signature is not checked)."""

    Type: Literal["Notification"]
    Message: str


class FilerNotification(EventShape):
    """A SeaweedFS filer webhook's notification (``notification.webhook`` in its notification.toml)."""

    key: str = Field(description="The entry's full path, /buckets/<bucket>/<object name>.")
    event_type: str = Field(description="create, update, delete or rename")
    message: dict[str, Any] | None = None


BucketNotification = S3Notification | SnsEnvelope | FilerNotification


class IgnoredEvent(Shape):
    Key: str
    Reason: str


class EventsAnswer(Shape):
    Queued: int  # images marked pending and handed to the workers
    Forgotten: int  # images gone from the bucket, taken out of the catalog
    Unchanged: int  # images the events named that needed nothing (up to date, already queued, already forgotten)
    Ignored: list[IgnoredEvent]
    Errors: list[str]  # records that could not be read (the others were applied)
