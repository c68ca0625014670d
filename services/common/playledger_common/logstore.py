"""Log storage: where each job's full stdout and artifacts live (the third tier, after the
stream and the read models). One small port, two implementations:

- :class:`S3Store` speaks the S3 API through aioboto3 (AWS, MinIO, Ceph, moto's server …);
- :class:`LocalStore` keeps the same keys as files under a directory (the embedded default).

Keys are derived here and nowhere else (:func:`log_key`, :func:`part_key`, :func:`artifact_key`):
a job attempt's finished log is ``jobs/<job>/<attempt>/stdout``; while it runs, the executor
stores what it has so far as numbered parts ``jobs/<job>/<attempt>/stdout.parts/<n>`` (readable
at once, and left in place up to the last flush when an executor dies), replaced by the one
finished object when the attempt ends. Job ids are one safe subject token, so a key never
escapes its job's prefix; artifact names are checked by :func:`artifact_name_problem`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

import aioboto3
import msgspec
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from playledger_common.settings import CommonSettings

READ_CHUNK: Final = 1024 * 1024
MIN_S3_PART: Final = 5 * 1024**2
"""S3 refuses multipart parts smaller than this (all but the last)."""
PART_DIGITS: Final = 8
NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound"})


class Stored(msgspec.Struct, frozen=True, kw_only=True):
    """An object as stored: its key in the store, size in bytes and the sha256 of its bytes."""

    key: str
    size: int
    sha256: str


class StorageError(Exception):
    """Log storage could not be reached or refused an operation (retry later)."""


TRANSIENT: Final = (StorageError, OSError)
"""What a caller retries: every failure of a store is reported as one of these."""


def attempt_prefix(job_id: str, attempt: int) -> str:
    return f"jobs/{job_id}/{attempt}/"


def log_key(job_id: str, attempt: int) -> str:
    """The finished log of one attempt: byte for byte the runner's ``stdout``."""
    return f"{attempt_prefix(job_id, attempt)}stdout"


def parts_prefix(job_id: str, attempt: int) -> str:
    return f"{log_key(job_id, attempt)}.parts/"


def part_key(job_id: str, attempt: int, number: int) -> str:
    """Part ``number`` (from 1) of a running attempt's log; keys sort in part order."""
    return f"{parts_prefix(job_id, attempt)}{number:0{PART_DIGITS}d}"


def artifact_key(job_id: str, attempt: int, name: str) -> str:
    return f"{attempt_prefix(job_id, attempt)}artifacts/{name}"


def artifact_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an artifact name (a relative POSIX path inside the job's prefix)."""
    path = PurePosixPath(name)
    if not name or len(name) > 512:
        return "must be 1 to 512 characters"
    if path.is_absolute() or "\\" in name or any(p in ("", ".", "..") for p in name.split("/")):
        return "must be a relative path without '.', '..' or empty segments"
    if any(ord(c) < 32 for c in name):
        return "must not contain control characters"
    return None


class LogStore(Protocol):
    """Objects by key. Every method raises ``StorageError`` or ``OSError`` when storage fails."""

    kind: str
    """``s3`` or ``local``."""

    async def put(self, key: str, data: bytes) -> Stored:
        """Store ``data`` as one object (a log part, a small artifact)."""
        ...

    async def put_file(self, key: str, path: Path) -> Stored:
        """Store a file of any size (S3: a multipart upload above one part)."""
        ...

    async def size(self, key: str) -> int | None:
        """The object's size, ``None`` if there is none."""
        ...

    async def listing(self, prefix: str) -> list[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``, in key order."""
        ...

    def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of the object, in chunks."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove objects (missing ones are fine)."""
        ...

    async def presign(self, key: str, expires_s: int) -> str | None:
        """A URL any HTTP client may GET the object from until it expires; ``None``: the store
        cannot give one (local), the caller serves the bytes itself."""
        ...

    def uri(self, key: str) -> str:
        """Where the object is, for people (``s3://bucket/key``, ``file:///…``); not for access."""
        ...

    async def ensure(self) -> None:
        """Create the bucket (S3) or directory (local) if it is missing."""
        ...

    async def expire(self, days: int) -> int:
        """Remove objects older than ``days``: S3 gets a lifecycle rule on the prefix (and removes
        them itself; 0 returned), the local store removes them now (how many returned)."""
        ...

    async def close(self) -> None: ...


def open_store(settings: CommonSettings) -> LogStore:
    """The store the settings name: ``storage_url`` (S3), else the directory ``logs_dir``."""
    if settings.storage_url is None:
        return LocalStore(settings.logs_dir)
    bucket, _, prefix = settings.storage_url.removeprefix("s3://").partition("/")
    return S3Store(
        bucket=bucket,
        prefix=prefix.strip("/"),
        endpoint_url=settings.storage_endpoint_url,
        region=settings.storage_region,
        path_style=settings.storage_path_style,
    )


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class LocalStore:
    """Keys as files under ``root``; every write is a rename of a complete temporary file."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        if problem := artifact_name_problem(key):
            msg = f"bad key: {problem}"
            raise ValueError(msg)
        return self.root / key

    def _write(self, key: str, writer: Any) -> Stored:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            writer(tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        size, sha = _sha256_file(target)
        return Stored(key=key, size=size, sha256=sha)

    async def put(self, key: str, data: bytes) -> Stored:
        return await asyncio.to_thread(self._write, key, lambda tmp: tmp.write_bytes(data))

    async def put_file(self, key: str, path: Path) -> Stored:
        return await asyncio.to_thread(self._write, key, lambda tmp: shutil.copyfile(path, tmp))

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def listing(self, prefix: str) -> list[tuple[str, int]]:
        def scan() -> list[tuple[str, int]]:
            base = self.root / prefix.rstrip("/")
            if not base.is_dir():
                return []
            found = [
                (p.relative_to(self.root).as_posix(), p.stat().st_size)
                for p in base.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            ]
            return sorted(f for f in found if f[0].startswith(prefix))

        return await asyncio.to_thread(scan)

    async def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self.path(key).open("rb") as f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = await asyncio.to_thread(f.read, min(READ_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    async def presign(self, key: str, expires_s: int) -> str | None:
        return None

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    async def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def expire(self, days: int) -> int:
        cutoff = time.time() - days * 86400

        def sweep() -> int:
            removed = 0
            for path in (self.root / "jobs").rglob("*") if (self.root / "jobs").is_dir() else []:
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)

    async def close(self) -> None:
        return None


class S3Store:
    """One bucket (and key prefix) of an S3 API, through one aioboto3 client opened lazily."""

    kind = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        part_size: int = 8 * 1024**2,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = max(part_size, MIN_S3_PART)
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                session = aioboto3.Session()
                self._client = await self._stack.enter_async_context(
                    session.client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config
                    )
                )
            return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    @contextlib.asynccontextmanager
    async def _calling(self, what: str) -> AsyncIterator[None]:
        """Every botocore failure becomes a ``StorageError`` naming the operation, never a credential."""
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            msg = f"S3 {what} failed: {code}"
            raise StorageError(msg) from None
        except (BotoCoreError, TimeoutError) as exc:
            msg = f"S3 {what} failed: {type(exc).__name__}"
            raise StorageError(msg) from None

    async def put(self, key: str, data: bytes) -> Stored:
        async with self._calling("put"):
            s3 = await self._s3()
            await s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return Stored(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    async def put_file(self, key: str, path: Path) -> Stored:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size <= self.part_size:
            return await self.put(key, await asyncio.to_thread(path.read_bytes))
        digest = hashlib.sha256()
        async with self._calling("multipart upload"):
            s3 = await self._s3()
            upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))
            upload_id = upload["UploadId"]
            try:
                parts = []
                with path.open("rb") as f:
                    number = 1
                    while chunk := await asyncio.to_thread(f.read, self.part_size):
                        digest.update(chunk)
                        answer = await s3.upload_part(
                            Bucket=self.bucket,
                            Key=self._key(key),
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=chunk,
                        )
                        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                        number += 1
                await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await s3.abort_multipart_upload(
                        Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
                    )
                raise
        return Stored(key=key, size=size, sha256=digest.hexdigest())

    async def size(self, key: str) -> int | None:
        async with self._calling("head"):
            s3 = await self._s3()
            try:
                head = await s3.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                    return None
                raise
        return int(head["ContentLength"])

    async def listing(self, prefix: str) -> list[tuple[str, int]]:
        s3 = await self._s3()
        found: list[tuple[str, int]] = []
        async with self._calling("list"):
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    found.append((item["Key"][len(self.prefix) :], int(item["Size"])))
        return sorted(found)

    async def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        async with self._calling("get"):
            s3 = await self._s3()
            answer = await s3.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )
            body = answer["Body"]
            try:
                async for chunk in body.iter_chunks(READ_CHUNK):
                    yield chunk
            finally:
                body.close()

    async def delete(self, keys: Sequence[str]) -> None:
        async with self._calling("delete"):
            s3 = await self._s3()
            for i in range(0, len(keys), 1000):
                batch = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
                await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    async def presign(self, key: str, expires_s: int) -> str | None:
        async with self._calling("presign"):
            s3 = await self._s3()
            url: str = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_s
            )
        return url

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    async def ensure(self) -> None:
        async with self._calling("create bucket"):
            s3 = await self._s3()
            try:
                await s3.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in NOT_FOUND:
                    raise
                await s3.create_bucket(Bucket=self.bucket)

    async def expire(self, days: int) -> int:
        rule = {
            "ID": f"playledger-retention-{self.prefix or 'all'}".rstrip("/"),
            "Filter": {"Prefix": f"{self.prefix}jobs/"},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        async with self._calling("put lifecycle"):
            s3 = await self._s3()
            try:
                current = await s3.get_bucket_lifecycle_configuration(Bucket=self.bucket)
                others = [r for r in current.get("Rules", []) if r.get("ID") != rule["ID"]]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                    raise
                others = []
            await s3.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [*others, rule]}
            )
        return 0

    async def close(self) -> None:
        async with self._lock:
            await self._stack.aclose()
            self._client = None


async def read_log(store: LogStore, job_id: str, attempt: int) -> tuple[list[tuple[str, int]], bool]:
    """The objects that make up an attempt's log so far, and whether it is the finished one.

    The finished object when there is one; else the parts a running (or dead) executor stored.
    """
    final = log_key(job_id, attempt)
    size = await store.size(final)
    if size is not None:
        return [(final, size)], True
    return await store.listing(parts_prefix(job_id, attempt)), False


async def read_span(
    store: LogStore, pieces: Sequence[tuple[str, int]], start: int, end: int
) -> AsyncIterator[bytes]:
    """Bytes ``start`` to ``end`` of the concatenation of ``pieces`` (``(key, size)``, in order)."""
    offset = 0
    for key, size in pieces:
        lo, hi = max(start, offset), min(end, offset + size)
        if lo < hi:
            async for chunk in store.open_range(key, lo - offset, hi - offset):
                yield chunk
        offset += size
        if offset >= end:
            return
