"""Store URLs that name a bucket (``s3://bucket/prefix``), parsed and written one way, without importing a driver:
the home compares the store it recorded with the one a command names."""

from __future__ import annotations

from dataclasses import dataclass

from pixlens.errors import ConfigError

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class BucketUrl:
    bucket: str
    prefix: str  # without a leading or trailing "/"; "" for the whole bucket

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{S3_SCHEME}{self.bucket}"


def is_bucket_url(url: str) -> bool:
    return url[: len(S3_SCHEME)].lower() == S3_SCHEME


def parse_bucket_url(url: str) -> BucketUrl:
    """``s3://bucket/some/prefix/`` -> bucket and prefix; ConfigError when it names no bucket."""
    if not is_bucket_url(url):
        raise ConfigError(f"not an s3:// URL: {url!r}")
    rest = url[len(S3_SCHEME) :]
    if "?" in rest or "#" in rest:
        raise ConfigError(f"an s3:// store URL takes no query or fragment (the server is set in s3.*): {url!r}")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"the store URL {url!r} names no bucket (s3://bucket or s3://bucket/prefix)")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ConfigError(f"the store URL {url!r} has '.' or '..' in its prefix")
    return BucketUrl(bucket, "/".join(parts))


def canonical_store_url(url: str) -> str:
    """One spelling per store (``S3://b/p/`` and ``s3://b//p`` are ``s3://b/p``), so that a home knows its own."""
    return str(parse_bucket_url(url)) if is_bucket_url(url) else url
