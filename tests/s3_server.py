"""An S3-compatible endpoint for tests: moto in server mode, reached over HTTP by boto3
exactly like a remote bucket (site side through django-storages, worker side through
gpu_worker.worker.storage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket, with the S3_* environment a GPU worker would have."""
    from gpu_worker.worker import storage

    monkeypatch.setenv("S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("S3_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("S3_REGION", "us-east-1")
    bucket = f"reel-{uuid.uuid4().hex[:10]}"
    storage.s3_client().create_bucket(Bucket=bucket)
    return bucket
