"""Media storage addressed by URI, so a GPU worker needs no Django and no database.

The site turns a stored file's name into a URI (restoration.services.rendering.
storage_uri) and puts the URIs in the job. Two schemes:

    file:///abs/path/to/file.mp4     a folder every worker can reach (local or NFS)
    s3://bucket/key                  S3-compatible storage through boto3

S3 settings come from the same environment variables the site reads
(S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION), so one env file
configures both.

Publishing is atomic on both: a file is written under a temporary name in the target
folder and renamed into place (rename is atomic within a file system); an S3 object
becomes visible only when its upload (single PUT or completed multipart upload) has
finished, so readers never see a partial object and no temporary key is needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

__all__ = ["StorageURIError", "Location", "parse_uri", "file_uri", "exists", "delete",
           "read_bytes", "write_bytes", "local_input", "local_output", "publish_file",
           "join", "s3_client"]


class StorageURIError(ValueError):
    """A URI this layer cannot handle (unknown scheme, missing bucket or path)."""


@dataclass(frozen=True)
class Location:
    scheme: str  # "file" or "s3"
    bucket: str  # s3 only
    path: str  # absolute file path, or the S3 key

    @property
    def suffix(self) -> str:
        return Path(self.path).suffix


def parse_uri(uri: str) -> Location:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageURIError(f"{uri!r}: file URIs must be local (file:///abs/path)")
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise StorageURIError(f"{uri!r}: a file URI needs an absolute path")
        return Location("file", "", path)
    if parsed.scheme == "s3":
        key = unquote(parsed.path).lstrip("/")
        if not parsed.netloc or not key:
            raise StorageURIError(f"{uri!r}: expected s3://bucket/key")
        return Location("s3", parsed.netloc, key)
    raise StorageURIError(f"{uri!r}: unsupported storage scheme {parsed.scheme!r}; "
                          "use file:///abs/path or s3://bucket/key")


def file_uri(path: str | os.PathLike[str]) -> str:
    return "file://" + quote(str(Path(path).resolve()))


def join(base_uri: str, name: str) -> str:
    """`name` inside the "folder" `base_uri` (which ends with a slash or not)."""
    return base_uri.rstrip("/") + "/" + quote(name)


@lru_cache(maxsize=4)
def _cached_client(endpoint: str | None, key: str | None, secret: str | None,
                   region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name=region,
                        config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment (cached per configuration)."""
    env = os.environ
    return _cached_client(env.get("S3_ENDPOINT_URL") or None, env.get("S3_ACCESS_KEY_ID") or None,
                          env.get("S3_SECRET_ACCESS_KEY") or None, env.get("S3_REGION") or None)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def exists(uri: str) -> bool:
    loc = parse_uri(uri)
    if loc.scheme == "file":
        return Path(loc.path).is_file()
    try:
        s3_client().head_object(Bucket=loc.bucket, Key=loc.path)
        return True
    except Exception as exc:
        if _is_missing(exc):
            return False
        raise


def delete(uri: str) -> None:
    loc = parse_uri(uri)
    if loc.scheme == "file":
        Path(loc.path).unlink(missing_ok=True)
    else:
        s3_client().delete_object(Bucket=loc.bucket, Key=loc.path)


def read_bytes(uri: str) -> bytes | None:
    """The object's bytes, or None when it does not exist."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        try:
            return Path(loc.path).read_bytes()
        except FileNotFoundError:
            return None
    try:
        return s3_client().get_object(Bucket=loc.bucket, Key=loc.path)["Body"].read()
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise


def write_bytes(uri: str, data: bytes) -> None:
    """Write a small object atomically (markers, result files)."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        target = Path(loc.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    else:
        s3_client().put_object(Bucket=loc.bucket, Key=loc.path, Body=data)


@contextmanager
def local_input(uri: str) -> Iterator[Path]:
    """A local path to read `uri` from: the file itself, or a downloaded temporary copy."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        path = Path(loc.path)
        if not path.is_file():
            raise FileNotFoundError(f"input {uri} does not exist")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="reel-in-") as tmp:
        path = Path(tmp) / f"input{loc.suffix}"
        s3_client().download_file(loc.bucket, loc.path, str(path))
        yield path


def publish_file(local: Path, uri: str) -> None:
    """Move/upload a finished local file to `uri` so it appears complete or not at all."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        target = Path(loc.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if local.resolve() == target.resolve():
            return
        tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.part{target.suffix}")
        try:
            # Same folder as the target: the final rename is atomic.
            shutil.copyfile(local, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return
    # upload_file switches to multipart for big files; either way the object only
    # exists once the whole upload has completed.
    s3_client().upload_file(str(local), loc.bucket, loc.path)


def remove_stale_partials(uri: str) -> int:
    """Delete temporary files a killed render left beside a file target (the engine's
    `.<stem>.<id>.part<suffix>` and ours): they are never published, but would pile up.
    Only called when no render of this output can be running (a new attempt of it)."""
    loc = parse_uri(uri)
    if loc.scheme != "file":
        return 0  # S3 has nothing half-written: uploads appear whole or not at all
    target = Path(loc.path)
    if not target.parent.is_dir():
        return 0
    removed = 0
    for leftover in target.parent.glob(f".{target.stem}.*.part{target.suffix}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


@contextmanager
def local_output(uri: str) -> Iterator[Path]:
    """A local path to write the output of `uri` to; published when the block succeeds.

    For file URIs the path is the target itself: the engine renders into a temporary
    file beside it and renames on success, so nothing extra is copied. For S3 it is a
    temporary file, uploaded after the block and deleted either way.
    """
    loc = parse_uri(uri)
    if loc.scheme == "file":
        target = Path(loc.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="reel-out-") as tmp:
        path = Path(tmp) / Path(loc.path).name
        yield path
        if not path.is_file():
            raise FileNotFoundError(f"nothing was written for {uri}")
        publish_file(path, uri)
