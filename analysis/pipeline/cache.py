"""The on-disk cache: deterministic string keys, checksummed float32 arrays, JSON records, locks.

Arrays are stored as raw bytes with a small header (magic, dtype, shape, CRC32, and a hash of
the key they were stored under), never pickled. diskcache keeps large values in their own
files, so an array can be streamed back in row chunks without loading it whole. Any entry whose
header, checksum or key does not match is deleted and reported as a miss, so callers recompute
instead of returning a wrong answer: a checksum alone would accept a value file swapped with
another entry's (same shape, both intact), so every read also checks the key.

The database is not trusted either: anyone who can write the cache folder (a shared
``DIMSCOPE_CACHE_DIR``, a Docker volume) can write rows. The store reads through
:class:`~analysis.pipeline.cache_disk.BytesDisk`: raw bytes only, never unpickled, and a value file only
under a name diskcache itself makes, inside the folder, without following a symlink. Any other
row is damaged: it is recomputed and the row alone is removed.

If the cache folder cannot be used (read-only, disk full, broken database) the store degrades
to "no cache" and records a warning that the app shows; work goes on uncached.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diskcache.core import DEFAULT_SETTINGS

from analysis import settings
from analysis.pipeline.cache_disk import BytesDisk, CorruptEntry, drop_symlinked_database, limit_settings, open_below

log = logging.getLogger(__name__)

_MAGIC = b"DIMSCOPE-ARRAY\x01"
_HEADER_LEN = struct.Struct("<I")
_ALLOWED_DTYPES = {"float32", "float64", "uint64", "int64", "int32"}


def build_key(kind: str, **parts: Any) -> str:
    """A deterministic cache key: ``v<schema>/<kind>/name=value/...`` with parts in sorted order.

    >>> build_key("emb", model="sha256:ab", corpus="c1", view="raw")
    'v2/emb/corpus=c1/model=sha256:ab/view=raw'
    """
    fields = "/".join(f"{name}={_key_value(value)}" for name, value in sorted(parts.items()))
    return f"v{settings.CACHE_SCHEMA_VERSION}/{kind}/{fields}"


def _key_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_key_value(v) for v in value)
    text = str(value)
    # Free text (prompts) is hashed so keys stay short and free of spaces and separators.
    if len(text) > 128 or any(ch.isspace() or ch in "=" for ch in text):
        return "h" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text


def key_digest(key: str) -> str:
    """What a stored value records of its key: enough to tell two keys apart, short in every header.

    >>> key_digest("v2/emb/corpus=c1") == key_digest("v2/emb/corpus=c1") != key_digest("v2/emb/corpus=c2")
    True
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def encode_array(array: np.ndarray, key: str = "") -> bytes:
    """Serialize an array as header + raw C-order bytes; the header names ``key`` (hashed)."""
    array = np.ascontiguousarray(array)
    if array.dtype.name not in _ALLOWED_DTYPES:
        raise ValueError(f"unsupported dtype {array.dtype}")
    payload = array.tobytes()
    header = json.dumps(
        {
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "crc32": zlib.crc32(payload),
            "key": key_digest(key),
        }
    ).encode()
    return _MAGIC + _HEADER_LEN.pack(len(header)) + header + payload


def _is_corruption(exc: Exception) -> bool:
    """True for SQLite errors that mean the database file itself is damaged."""
    text = str(exc).lower()
    return any(sign in text for sign in ("not a database", "malformed", "encrypted"))


def _read_header(handle: io.RawIOBase | io.BufferedIOBase, key: str) -> dict:
    magic = handle.read(len(_MAGIC))
    if magic != _MAGIC:
        raise CorruptEntry("bad magic")
    raw_len = handle.read(_HEADER_LEN.size)
    if len(raw_len) != _HEADER_LEN.size:
        raise CorruptEntry("truncated header")
    (header_len,) = _HEADER_LEN.unpack(raw_len)
    if header_len > 4096:
        raise CorruptEntry("header too long")
    try:
        header = json.loads(handle.read(header_len))
        dtype = np.dtype(header["dtype"])
        shape = tuple(int(n) for n in header["shape"])
        int(header["crc32"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptEntry(f"bad header: {exc}") from None
    if dtype.name not in _ALLOWED_DTYPES or any(n < 0 for n in shape):
        raise CorruptEntry("bad dtype or shape")
    if header.get("key") != key_digest(key):
        raise CorruptEntry("stored under another key")
    header["dtype"], header["shape"] = dtype, shape
    return header


def decode_array(handle: io.BufferedIOBase, key: str = "") -> np.ndarray:
    """Read a whole array back, verifying its checksum and that it was stored under ``key``."""
    header = _read_header(handle, key)
    expected = int(np.prod(header["shape"], dtype=np.int64)) * header["dtype"].itemsize
    payload = handle.read(expected)
    if len(payload) != expected or handle.read(1):
        raise CorruptEntry("payload length mismatch")
    if zlib.crc32(payload) != header["crc32"]:
        raise CorruptEntry("checksum mismatch")
    return np.frombuffer(payload, dtype=header["dtype"]).reshape(header["shape"]).copy()


@dataclass
class ArrayStream:
    """Row chunks of a stored 2-D array, read from disk a chunk at a time.

    The checksum is verified as the chunks go by; ``verified`` is True only once the
    last chunk has been read and matched. A consumer that sees ``CorruptEntry`` must
    discard what it computed.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    _handle: Any
    _crc_expected: int
    verified: bool = False

    def close(self) -> None:
        self._handle.close()

    def chunks(self, rows_per_chunk: int) -> Iterator[np.ndarray]:
        n_rows = self.shape[0]
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        crc = 0
        try:
            for start in range(0, n_rows, rows_per_chunk):
                count = min(rows_per_chunk, n_rows - start)
                data = self._handle.read(count * row_bytes)
                if len(data) != count * row_bytes:
                    raise CorruptEntry("truncated payload")
                crc = zlib.crc32(data, crc)
                yield np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))
            if self._handle.read(1):
                raise CorruptEntry("trailing bytes")
            if crc != self._crc_expected:
                raise CorruptEntry("checksum mismatch")
            self.verified = True
        finally:
            self._handle.close()


class EmbeddingStore:
    """diskcache-backed storage for arrays and small JSON records.

    ``EmbeddingStore(directory)`` never raises for an unusable folder: it falls back to
    an in-memory no-op store and puts the reason in ``warnings``.
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, size_limit: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else settings.cache_dir()
        self.size_limit = size_limit if size_limit is not None else settings.cache_size_limit_bytes()
        self.warnings: list[str] = []
        self.warnings_total = 0
        self._reopen_lock = threading.Lock()
        self._reopens_left = 3
        self._cache = self._open()

    # -- opening and health -------------------------------------------------------------------
    def _open(self):
        import diskcache

        probe = self.directory / f".write-probe-{os.getpid()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()  # a stale probe, or a symlink planted at a name we would write through
            fd = open_below(self.directory, probe.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink()  # created on a full disk, but not written
            self.warn(f"The cache folder {self.directory} cannot be written ({exc.strerror or exc}); working uncached.")
            return None
        for name in drop_symlinked_database(self.directory):
            self.warn(
                f"The cache's {name} was a symlink (SQLite would follow it out of {self.directory}); it was removed."
            )
        for attempt in range(2):
            try:
                limit_settings(self.directory)
                return diskcache.Cache(
                    str(self.directory),
                    disk=BytesDisk,
                    timeout=60,
                    # Every setting given, so none comes from the database.
                    **{
                        **DEFAULT_SETTINGS,
                        "size_limit": self.size_limit,
                        "eviction_policy": "least-recently-used",
                        # Values above this size go to their own files: arrays can then be streamed.
                        "disk_min_file_size": 32 * 1024,
                    },
                )
            except sqlite3.DatabaseError as exc:
                # Only a damaged file is moved aside; a full disk or a read-only file is not
                # damage, and moving it would throw a good (warm) cache away.
                if attempt == 0 and _is_corruption(exc) and self._quarantine_database(exc):
                    continue
                self.warn(f"The cache database in {self.directory} is unusable ({exc}); working uncached.")
                return None
            except OSError as exc:
                self.warn(f"The cache in {self.directory} cannot be opened ({exc}); working uncached.")
                return None
        return None

    def _quarantine_database(self, exc: Exception) -> bool:
        database = self.directory / "cache.db"
        if not database.exists():
            return False
        aside = self.directory / f"cache.db.corrupt-{int(time.time())}"
        try:
            os.replace(database, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"cache.db{suffix}").unlink()
        except OSError:
            return False
        self.warn(f"The cache database was corrupt ({exc}); it was moved to {aside.name} and a new one started.")
        return True

    def _recover(self, exc: Exception, cache: Any) -> bool:
        """After a database error: if the database file was deleted or replaced while open
        ("no such table" on a new connection, "not a database", "malformed"), start a new one
        and return True so the caller retries once. Transient errors ("locked") return False."""
        text = str(exc).lower()
        if "no such table" not in text and not _is_corruption(exc):
            return False
        with self._reopen_lock:
            if self._cache is not cache:  # another thread already reopened it
                return self._cache is not None
            if self._reopens_left <= 0:
                return False
            self._reopens_left -= 1
            with contextlib.suppress(Exception):
                cache.close()
            if "no such table" not in text:
                self._quarantine_database(exc)
            self._cache = self._open()
            if self._cache is not None:
                self.warn(
                    f"The cache database in {self.directory} was deleted or damaged while in use "
                    f"({exc}); a new, empty one was started."
                )
            return self._cache is not None

    def warn(self, message: str) -> None:
        """Record a warning; ``warnings_total`` lets a caller pick out those raised during its request."""
        log.warning(message)
        self.warnings_total += 1
        self.warnings.append(message)
        if len(self.warnings) > 200:  # a long-running server must not grow this forever
            del self.warnings[:100]

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    # -- raw access with fault tolerance -------------------------------------------------------
    def _get_handle(self, key: str, _retry: bool = True):
        cache = self._cache
        if cache is None:
            return None
        try:
            value = cache.get(key, default=None, read=True, retry=True)
        except CorruptEntry as exc:  # pickled, or a file name that is not ours: only the row goes
            self.warn(f"A cache entry was damaged ({exc}); it was removed and will be recomputed.")
            self.delete(key)
            return None
        except (sqlite3.DatabaseError, OSError) as exc:
            if _retry and isinstance(exc, sqlite3.DatabaseError) and self._recover(exc, cache):
                return self._get_handle(key, _retry=False)
            self.warn(f"Cache read failed ({exc}); recomputing.")
            return None
        if value is None:
            return None
        return io.BytesIO(value) if isinstance(value, bytes) else value  # BytesDisk: bytes or an open file

    def _set(self, key: str, value: bytes, _retry: bool = True) -> bool:
        cache = self._cache
        if cache is None:
            return False
        try:
            cache.set(key, value, retry=True)
            return True
        except (sqlite3.DatabaseError, OSError) as exc:
            if _retry and isinstance(exc, sqlite3.DatabaseError) and self._recover(exc, cache):
                return self._set(key, value, _retry=False)
            # Disk full or read-only mid-run: keep working, remember why nothing is cached.
            self.warn(f"Could not write to the cache ({exc}); results are not cached.")
            with contextlib.suppress(Exception):
                self._cache.delete(key, retry=True)
            return False

    def delete(self, key: str) -> None:
        if self._cache is not None:
            with contextlib.suppress(sqlite3.DatabaseError, OSError):
                self._cache.delete(key, retry=True)

    def __contains__(self, key: str) -> bool:
        if self._cache is None:
            return False
        try:
            return key in self._cache
        except (sqlite3.DatabaseError, OSError):
            return False

    # -- arrays ----------------------------------------------------------------------------------
    def get_array(self, key: str) -> np.ndarray | None:
        """The stored array, or None on a miss. Corrupt entries are deleted and count as a miss."""
        handle = self._get_handle(key)
        if handle is None:
            return None
        try:
            with handle:
                return decode_array(handle, key)
        except (CorruptEntry, OSError, ValueError) as exc:
            self.warn(f"A cached array was damaged ({exc}); it was removed and will be recomputed.")
            self.delete(key)
            return None

    def put_array(self, key: str, array: np.ndarray) -> bool:
        return self._set(key, encode_array(array, key))

    def stream_array(self, key: str) -> ArrayStream | None:
        """Open a stored 2-D array for chunked reading, or None on a miss or a bad header."""
        handle = self._get_handle(key)
        if handle is None:
            return None
        try:
            header = _read_header(handle, key)
        except (CorruptEntry, OSError) as exc:
            handle.close()
            self.warn(f"A cached array was damaged ({exc}); it was removed and will be recomputed.")
            self.delete(key)
            return None
        if len(header["shape"]) != 2:
            handle.close()
            return None
        return ArrayStream(header["shape"], header["dtype"], handle, int(header["crc32"]))

    # -- JSON records ----------------------------------------------------------------------------
    def get_json(self, key: str) -> Any | None:
        handle = self._get_handle(key)
        if handle is None:
            return None
        try:
            with handle:
                raw = handle.read()
            envelope = json.loads(raw)
            body = envelope["body"]
            if zlib.crc32(body.encode()) != envelope["crc32"]:
                raise CorruptEntry("checksum mismatch")
            if envelope.get("key") != key_digest(key):
                raise CorruptEntry("stored under another key")
            return json.loads(body)
        except (CorruptEntry, ValueError, KeyError, TypeError, OSError) as exc:
            self.warn(f"A cached record was damaged ({exc}); it was removed and will be recomputed.")
            self.delete(key)
            return None

    def put_json(self, key: str, value: Any) -> bool:
        body = json.dumps(value, allow_nan=True, separators=(",", ":"))
        envelope = {"crc32": zlib.crc32(body.encode()), "key": key_digest(key), "body": body}
        return self._set(key, json.dumps(envelope).encode())

    # -- cross-process lock ----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive lock on ``key`` across processes (flock; released by the OS if a holder dies)."""
        if self._cache is None:
            yield
            return
        name = f"locks/{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"
        try:  # inside the folder only: a "locks" symlinked elsewhere is not followed
            fd = open_below(self.directory, name, os.O_RDWR | os.O_CREAT, make_folders=True)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def volume_bytes(self) -> int:
        if self._cache is None:
            return 0
        try:
            return int(self._cache.volume())
        except (sqlite3.DatabaseError, OSError):
            return 0

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear(retry=True)


_DEFAULT_STORES: dict[str, EmbeddingStore] = {}


def default_store() -> EmbeddingStore:
    """The disk cache of this user: one store per cache folder per process.

    The folder is ``$DIMSCOPE_CACHE_DIR``, else the per-user cache (``~/.cache/dimscope``); it is read
    on every call, so a change of the environment variable takes effect at once. Pass the store to
    every function that can encode or store (``store=default_store()``); a public server passes a
    session's memory store instead, so an upload never reaches the shared disk.

    Returns
    -------
    EmbeddingStore
        The store of the current cache folder. It never raises on a folder it cannot use: it
        degrades to "no cache" and records why in ``store.warnings``.

    Examples
    --------
    Here the cache goes to a temporary folder; without the variable, your own cache is used.

    >>> import os, tempfile
    >>> from analysis import default_store
    >>> os.environ["DIMSCOPE_CACHE_DIR"] = tempfile.mkdtemp()
    >>> store = default_store()
    >>> store is default_store(), str(store.directory) == os.environ["DIMSCOPE_CACHE_DIR"]
    (True, True)
    >>> store.put_json("v2/example/n=1", {"texts": 4}), store.get_json("v2/example/n=1")
    (True, {'texts': 4})
    """
    directory = str(settings.cache_dir())
    store = _DEFAULT_STORES.get(directory)
    if store is None:
        store = _DEFAULT_STORES[directory] = EmbeddingStore(directory)
    return store
