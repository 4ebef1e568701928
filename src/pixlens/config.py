"""Settings: one object, each setting declared once with its help text.

Precedence, highest first: values given in code or on the command line, ``PIXLENS_*`` environment variables
(nested with ``__``, e.g. ``PIXLENS_LABELS__MIN_CONFIDENCE=70``), ``pixlens.toml`` in the home folder, defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pixlens.errors import ConfigError

DEFAULT_HOME = Path(".pixlens")
KNOWN_ANALYZERS = ("labels", "text", "faces", "moderation", "properties", "embedding", "thumbnail")
SETTINGS_FILE = "pixlens.toml"


class Section(BaseModel):
    """A table of settings: a key it does not know is an error, not silently ignored (a misspelt setting)."""

    model_config = ConfigDict(extra="forbid")


class LabelSettings(Section):
    """What the label analyser keeps (Rekognition's DetectLabels settings)."""

    classifier: Literal["efficientnet_lite2", "efficientnet_lite0"] = Field(
        "efficientnet_lite2", description="ImageNet classifier: lite2 (accurate, default) or lite0 (fast)."
    )
    min_confidence: float = Field(55.0, ge=0, le=100, description="Labels below this confidence are dropped.")
    max_labels: int = Field(10, ge=1, le=1000, description="At most this many labels per image.")
    accurate: bool = Field(
        False,
        description="Also run the detector on the mirror image and 2x2 tiles: better recall, ~6x slower.",
    )
    include_labels: list[str] = Field(default_factory=list, description="Keep only these labels (and children).")
    exclude_labels: list[str] = Field(default_factory=list, description="Drop these labels (and children).")
    include_categories: list[str] = Field(default_factory=list, description="Keep only labels in these categories.")
    exclude_categories: list[str] = Field(default_factory=list, description="Drop labels in these categories.")

    def admits(self, lineage: Iterable[str], categories: Iterable[str]) -> bool:
        """Whether a label passes the filters: a label name matches the label or any of its parents (``lineage``:
        the label's name and its parents' names); a category, any of the label's categories; any case. One rule
        for every analysis backend."""
        names = {name.casefold() for name in lineage}
        kinds = {category.casefold() for category in categories}

        def hits(wanted: list[str], have: set[str]) -> bool:
            return any(each.casefold() in have for each in wanted)

        if self.include_labels and not hits(self.include_labels, names):
            return False
        if self.exclude_labels and hits(self.exclude_labels, names):
            return False
        if self.include_categories and not hits(self.include_categories, kinds):
            return False
        return not (self.exclude_categories and hits(self.exclude_categories, kinds))


class TextSettings(Section):
    """Text in images (Rekognition's DetectText)."""

    min_confidence: float = Field(50.0, ge=0, le=100, description="Lines read with less confidence are dropped.")


class FaceSettings(Section):
    """Faces (Rekognition's DetectFaces) and people."""

    min_confidence: float = Field(90.0, ge=0, le=100, description="Faces found with less confidence are dropped.")
    min_size: int = Field(20, ge=8, description="Smallest face side searched for, in pixels of the working copy.")
    cluster_similarity: float = Field(
        0.55, ge=-1, le=1, description="A face joins a person when its cosine similarity to them is at least this."
    )


class ModerationSettings(Section):
    """Unsafe content (Rekognition's DetectModerationLabels)."""

    min_confidence: float = Field(50.0, ge=0, le=100, description="From this confidence an image is unsafe.")
    hide_unsafe: bool = Field(True, description="Search leaves unsafe images out unless the query asks (is:unsafe).")


class PropertySettings(Section):
    """Colours and quality (Rekognition's ImageProperties)."""

    max_colors: int = Field(5, ge=1, le=20, description="At most this many dominant colours per image.")


class ThumbnailSettings(Section):
    """The WebP thumbnail kept for each image."""

    size: int = Field(256, ge=32, le=1024, description="Longer side of a thumbnail, in pixels.")
    quality: int = Field(80, ge=1, le=100, description="WebP quality of thumbnails.")
    location: Literal["auto", "home", "store"] = Field(
        "auto",
        description="Where thumbnails are kept: home (<home>/thumbnails: one machine), store (the image store, under "
        "the hidden prefix .pixlens-thumbnails/: shared by every machine); auto: home beside a folder store, else "
        "store.",
    )


class S3Settings(Section):
    """An S3-compatible object store (``store = "s3://bucket/prefix"``). Credentials are never settings: they come
    from the usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, an instance role)."""

    endpoint_url: str = Field(
        "", description="The server's URL (MinIO, Garage, Ceph RGW, SeaweedFS...); empty: AWS S3 (or AWS_ENDPOINT_URL)."
    )
    region: str = Field(
        "", description="Region; empty: the chain's (AWS_REGION, the profile), else us-east-1 with an endpoint URL."
    )
    path_style: bool | None = Field(
        None,
        description="Path-style addressing (http://host/bucket/key) instead of virtual hosts (http://bucket.host/); "
        "default: on when endpoint_url is set.",
    )
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per request (the first and its retries).")
    retry_mode: Literal["standard", "adaptive"] = Field(
        "standard", description="botocore's retry mode: exponential backoff with jitter (adaptive: also rate-limits)."
    )
    connect_timeout: float = Field(5.0, gt=0, le=300, description="Seconds to wait for a connection.")
    read_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for data on a connection.")
    multipart_threshold: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Uploads from this size are sent in parts (multipart)."
    )
    multipart_chunksize: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Size of each part of a multipart upload."
    )
    checksums: Literal["when_supported", "when_required"] = Field(
        "when_supported",
        description="Send and check CRC checksums on every request that takes one (when_supported, botocore's "
        "default), or only where the API requires them (for servers that reject the newer checksum headers).",
    )
    list_page_size: int = Field(1000, ge=1, le=1000, description="Keys asked per ListObjectsV2 page.")


class AnalysisSettings(Section):
    """Which engine fills the labels, text, faces, moderation and properties of a record."""

    backend: Literal["bundled", "rekognition"] = Field(
        "bundled",
        description="bundled: the models inside pixlens (no per-image fee, offline); rekognition: Amazon Rekognition "
        "(see rekognition; paid per image, needs AWS credentials). Embedding and thumbnails stay bundled.",
    )


FaceAttribute = Literal[
    "DEFAULT",
    "ALL",
    "AGE_RANGE",
    "BEARD",
    "EMOTIONS",
    "EYE_DIRECTION",
    "EYEGLASSES",
    "EYES_OPEN",
    "GENDER",
    "MOUTH_OPEN",
    "MUSTACHE",
    "FACE_OCCLUDED",
    "SMILE",
    "SUNGLASSES",
]


class RekognitionSettings(Section):
    """Amazon Rekognition as the analysis backend (``analysis.backend = "rekognition"``). Credentials are never
    settings: they come from the usual chain (environment, profile, the Lambda function's role)."""

    region: str = Field("", description="Region of the Rekognition endpoint; empty: the chain's (AWS_REGION, profile).")
    endpoint_url: str = Field("", description="Endpoint URL; empty: AWS's (or AWS_ENDPOINT_URL).")
    face_attributes: list[FaceAttribute] = Field(
        default_factory=lambda: list[FaceAttribute](["DEFAULT"]),
        description="DetectFaces Attributes: DEFAULT (box, confidence, pose, quality, landmarks), ALL, or a list "
        "such as AGE_RANGE, GENDER, EMOTIONS.",
    )
    s3_objects: bool = Field(
        True,
        description="On an s3:// store, let Rekognition read a JPEG or PNG of up to 15 MB from the bucket itself "
        "(S3Object) instead of sending its bytes.",
    )
    max_side: int = Field(
        4096, ge=80, le=10_000, description="Longer side (pixels) of an image re-encoded to send as bytes."
    )
    concurrent_calls: int = Field(
        4, ge=1, le=64, description="Calls in flight at once per analyser on a batch (they wait on the network)."
    )
    max_attempts: int = Field(
        8, ge=1, le=30, description="Attempts per call while Rekognition throttles (the first and its retries)."
    )
    backoff_seconds: float = Field(
        0.5, gt=0, le=60, description="First wait after a throttled call; doubled each time, with full jitter."
    )
    backoff_max_seconds: float = Field(20.0, gt=0, le=600, description="Longest wait between two attempts of a call.")
    connect_timeout: float = Field(5.0, gt=0, le=300, description="Seconds to wait for a connection.")
    read_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for an answer.")


class EmbeddingSettings(Section):
    """The image embedding behind "more like this" and near-duplicates."""

    model: Literal["efficientnet_lite0", "efficientnet_lite2"] = Field(
        "efficientnet_lite2",
        description="Classifier whose penultimate layer is the embedding (the labels' own: computed once for both).",
    )
    rotations: bool = Field(
        False, description="Average the embeddings of the four 90-degree turns: rotation-blind, four model runs."
    )


class DecodeSettings(Section):
    """Hard limits applied before and during decoding."""

    max_bytes: int = Field(200 * 1024 * 1024, ge=1, description="Larger files are refused unread.")
    max_pixels: int = Field(100_000_000, ge=1, description="Larger images (width x height) are refused undecoded.")
    min_side: int = Field(16, ge=1, description="Images with a smaller side are refused as too small to analyse.")
    work_size: int = Field(1024, ge=256, description="Longer side of the one decoded copy the analysers share.")


class ApiSettings(Section):
    """The HTTP API and web page of ``pixlens serve``."""

    host: str = Field("127.0.0.1", description="Address to listen on; any but loopback needs an API key to exist.")
    port: int = Field(8377, ge=0, le=65535, description="Port to listen on (0: any free port).")
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1, description="Largest file one upload may carry.")
    max_files: int = Field(100, ge=1, le=10_000, description="Most files in one upload request.")
    max_request_bytes: int = Field(
        1024 * 1024 * 1024, ge=1, description="Largest request body (all the files of an upload together)."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Web origins allowed to call the API from a browser (CORS); none by default."
    )
    watch: bool = Field(True, description="Also watch the store folder and analyse what appears in it.")
    request_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Threads that answer requests at once; 0: one per CPU core (more only contend for Python's "
        "lock: 40 threads answered half the searches per second that 2 did on 2 cores).",
    )
    search_cache_answers: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Search answers (a page with its facets) kept until the catalog changes, so that the same search "
        "is computed once while nothing is written; 0: none kept.",
    )
    search_cache_mb: int = Field(64, ge=1, le=65536, description="Memory those answers may take together (MB).")


class HookSettings(Section):
    """Webhooks of saved searches (pixlens hooks): how deliveries are sent and retried."""

    max_attempts: int = Field(
        8, ge=1, le=100, description="A delivery not accepted (2xx) after this many attempts is dead (not retried)."
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="An attempt that has no answer within this many seconds failed."
    )


class CelerySettings(Section):
    """Celery workers (``queue`` = redis:// or amqp://): how batches are queued, retried and taken."""

    queue_name: str = Field("pixlens", min_length=1, description="The broker queue that carries pixlens's batches.")
    concurrency: int = Field(
        1, ge=1, le=64, description="Worker processes per `pixlens worker` (each loads the models once)."
    )
    max_retries: int = Field(
        5, ge=0, le=100, description="A batch whose run raises is retried this often, with backoff, then given up."
    )
    retry_backoff_max: float = Field(300.0, gt=0, description="Longest wait between two retries of a batch (s).")
    visibility_timeout: float = Field(
        3600.0,
        gt=0,
        description="Redis: a batch taken by a worker that died is given to another after this many seconds "
        "(RabbitMQ gives it back as soon as the worker's connection drops).",
    )
    poll_seconds: float = Field(0.1, gt=0, le=5, description="How often a waiting command looks for finished batches.")
    heartbeat_seconds: int = Field(
        10,
        ge=0,
        le=600,
        description="RabbitMQ: heartbeats between a worker and the broker; a worker whose machine vanished is noticed "
        "within a few of them and its batch given back (0: none, noticed only when TCP gives up).",
    )


class LambdaSettings(Section):
    """The AWS Lambda function (``pixlens.aws.lambda_handler.handler``)."""

    safety_margin_seconds: float = Field(
        10.0,
        ge=0,
        le=900,
        description="No new batch of images is started once less than this, plus the time a batch is expected to "
        "take, remains before the function's deadline; what is left is reported unfinished and delivered again.",
    )


class Settings(BaseSettings):
    """Everything pixlens can be told. See docs/CONFIGURATION.md."""

    model_config = SettingsConfigDict(
        env_prefix="PIXLENS_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(
        DEFAULT_HOME,
        description="Folder that holds the catalog, thumbnails and pixlens.toml (default: the nearest .pixlens "
        "in or above the working folder, else the user's data folder).",
    )
    store: str = Field(
        "",
        description="Folder (or file:// URL) of the images, or s3://bucket/prefix (see s3); default: the one the "
        "home recorded at first use, first <home>/images.",
    )
    catalog: str = Field(
        "",
        description="Catalog URL; default: the one the home recorded at first use, first sqlite:///<home>/catalog.db.",
    )
    queue: str = Field(
        "local://",
        description="Where analysis runs: local:// a pool of threads in this process; redis://host:6379/0 or "
        "amqp://user:pass@host:5672// Celery workers (`pixlens worker`) that take batches from that broker.",
    )
    analyzers: list[str] = Field(
        default_factory=lambda: list(KNOWN_ANALYZERS),
        description="What to analyse (Rekognition's Features): any of " + ", ".join(KNOWN_ANALYZERS) + ".",
    )
    workers: int = Field(0, ge=0, description="Decode threads; 0 means one per CPU core.")
    model_threads: int = Field(
        0, ge=0, description="Threads per model run; 0 means one per CPU core (shared out among analysis_lanes)."
    )
    analysis_lanes: int = Field(
        1,
        ge=1,
        le=8,
        description="Batches analysed at once, each on its own thread (more throughput for small photos, more memory).",
    )
    parallel_analyzers: int = Field(
        2,
        ge=1,
        le=16,
        description="Analysers run at once on a batch (those that do not wait for another's results); 1: in turn.",
    )
    batch_size: int = Field(8, ge=1, le=256, description="Images per model batch.")
    malloc_arenas: int = Field(
        1,
        ge=0,
        le=64,
        description="glibc malloc arenas the pipeline's threads share (0: glibc's default, 8 per core); fewer keep "
        "less freed memory (docs/PERFORMANCE.md, Memory). Set for the whole process when the models load.",
    )
    watch_settle_seconds: float = Field(
        1.0, ge=0, le=60, description="The watcher analyses a file once it has been quiet this long."
    )
    reconcile_max_delete: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Reconcile deletes at most this share of the catalog at once without --yes (an unmounted or "
        "emptied store is not a reason to forget every image).",
    )
    reconcile_interval: float = Field(
        600.0, ge=0, description="While watching, reconcile every this many seconds (0: only at start)."
    )
    cascade: bool = Field(True, description="Let cheap signals skip expensive work (no text regions: no OCR...).")
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    rekognition: RekognitionSettings = Field(default_factory=RekognitionSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    faces: FaceSettings = Field(default_factory=FaceSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    properties: PropertySettings = Field(default_factory=PropertySettings)
    thumbnails: ThumbnailSettings = Field(default_factory=ThumbnailSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    hooks: HookSettings = Field(default_factory=HookSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    aws_lambda: LambdaSettings = Field(default_factory=LambdaSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @property
    def store_path(self) -> Path:
        """The store folder (a ``file://`` URL or a plain path; meaningless for an ``s3://`` store)."""
        if not self.store:
            return self.home / "images"
        return Path(self.store.removeprefix("file://"))

    @property
    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{self.home / 'catalog.db'}"

    def threads_per_model(self) -> int:
        """Intra-op threads for each model run: as set, else the cores shared out among the analysis lanes."""
        return self.model_threads or max(1, self.cpu_count() // self.analysis_lanes)

    def cpu_count(self) -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_settings(home: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings for a home folder (found as :func:`pixlens.home.find_home` says when not given): arguments >
    PIXLENS_* > <home>/pixlens.toml > defaults."""
    from pixlens.home import find_home

    home_path = find_home(home)
    toml_file = home_path / SETTINGS_FILE

    class _HomeSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file if toml_file.is_file() else None)

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = _HomeSettings(home=home_path, **given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, toml_file)) from exc
    except (OSError, ValueError) as exc:  # an unreadable or malformed pixlens.toml
        raise ConfigError(f"cannot read {toml_file}: {exc}") from exc
    return settings


def _explain(exc: ValidationError, toml_file: Path) -> str:
    lines = [f"invalid settings (from arguments, PIXLENS_* variables or {toml_file}):"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
