"""diskcache's Disk for a cache folder whose database nobody vouches for.

Anyone who can write the cache folder (a shared ``DIMSCOPE_CACHE_DIR``, a Docker volume) can
write rows into its ``cache.db``. diskcache as shipped unpickles a row stored in pickle mode
(running whatever the pickle says), opens the file a row names wherever it points, deletes it
with the row, and applies every ``Settings`` row on open. :class:`BytesDisk` and
:func:`limit_settings` close each of these; :mod:`analysis.pipeline.cache` builds its store on them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import sqlite3
import stat
from pathlib import Path
from typing import Any

from diskcache.core import DEFAULT_SETTINGS, METADATA, MODE_BINARY, MODE_RAW, Disk


class CorruptEntry(Exception):
    """A stored value is damaged or not ours: a bad header or checksum, another key's value, or a
    row that is not raw bytes in the cache folder. Read as a miss: recomputed, the row removed."""


#: The only value-file names diskcache's Disk.filename() makes: two hex folders, 28 hex digits.
_VALUE_FILE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{28}\.val")
#: What open(..., O_NOFOLLOW) says about a symlink (ELOOP on Linux, EMLINK on FreeBSD; ENOTDIR
#: with O_DIRECTORY on some systems).
_SYMLINK_ERRNOS = {errno.ELOOP, errno.EMLINK, errno.ENOTDIR}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class BytesDisk(Disk):
    """diskcache's Disk for a folder whose database may hold rows written by someone else.

    * Keys are strings (diskcache pickles other keys, and unpickles them when listing).
    * Values are bytes, kept raw in the row or in a value file; nothing is ever pickled, and a
      row in any other mode (pickle, text, a number) is a :class:`CorruptEntry` when read.
    * A value file is opened, written or removed only under a name diskcache itself makes
      (``ab/cd/<28 hex>.val``), each folder opened from the cache folder with ``O_NOFOLLOW``:
      an absolute name, ``..`` or a symlink anywhere on the way never reaches outside.
    * ``remove`` leaves any other name alone, so deleting a damaged row removes the row only.

    diskcache reaches files through ``fetch``, ``store`` and ``remove`` alone (get, set, delete,
    cull, expire, clear, pop); ``Cache.check``, which we never call, walks the folder itself.
    """

    # -- keys ---------------------------------------------------------------------------------
    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"cache keys are strings, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or type(key) is not str:
            raise CorruptEntry("a key that is not a string (diskcache would unpickle it)")
        return key

    # -- values -------------------------------------------------------------------------------
    def store(self, value: Any, read: bool, key: Any = None) -> tuple[int, int, str | None, Any]:
        if type(value) is not bytes:
            raise TypeError(f"cache values are bytes, not {type(value).__name__}")
        if len(value) < self.min_file_size:
            return 0, MODE_RAW, None, sqlite3.Binary(value)
        filename, _ = self.filename()
        attempts = 10  # another process may remove an emptied folder meanwhile (as in Disk._write)
        while True:
            try:
                with self._open_value(filename, create=True) as writer:
                    writer.write(value)
                return len(value), MODE_BINARY, filename, None
            except OSError as exc:
                attempts -= 1
                if attempts == 0 or not (isinstance(exc, FileNotFoundError) or exc.errno in _SYMLINK_ERRNOS):
                    raise
                if exc.errno in _SYMLINK_ERRNOS:
                    # A symlink planted where the random name fell (one folder in 256 for "ab/"):
                    # it is left alone, never followed, and the value goes under another name.
                    filename, _ = self.filename()

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == MODE_RAW and filename is None and type(value) is bytes:
            return value
        if mode != MODE_BINARY or filename is None or value is not None:
            raise CorruptEntry(f"a row in diskcache mode {mode}, not raw bytes (never unpickled)")
        handle = self._open_value(filename)
        if read:
            return handle
        with handle:
            return handle.read()

    def remove(self, file_path: str | None) -> None:
        """Remove a value file and its emptied folders, never a name diskcache did not make."""
        if file_path is None or not _VALUE_FILE.fullmatch(file_path):
            return
        folders = file_path.split("/")
        with contextlib.suppress(OSError), _Folders(self._directory, folders[:-1], create=False) as fds:
            os.unlink(folders[-1], dir_fd=fds[-1])
            # Emptied folders go too (what Disk.remove's removedirs does), up to the cache folder.
            for depth in range(len(folders) - 2, -1, -1):
                os.rmdir(folders[depth], dir_fd=fds[depth])

    def _open_value(self, filename: str, *, create: bool = False) -> io.BufferedReader | io.BufferedWriter:
        if not _VALUE_FILE.fullmatch(filename):
            raise CorruptEntry(f"a value file name diskcache never makes: {filename[:80]!r}")
        flags = os.O_NONBLOCK  # a FIFO must not hang us
        flags |= (os.O_WRONLY | os.O_CREAT | os.O_EXCL) if create else os.O_RDONLY
        try:
            fd = open_below(self._directory, filename, flags, make_folders=create)
        except OSError as exc:
            if exc.errno in _SYMLINK_ERRNOS and not create:  # a write there is an OSError: not cached
                raise CorruptEntry(f"a symlink in the value file's path {filename!r}") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CorruptEntry(f"the value file {filename!r} is not a regular file")
        if not create:
            os.set_blocking(fd, True)
        raw = io.FileIO(fd, "wb" if create else "rb")
        raw.name = os.path.join(self._directory, filename)  # opened by descriptor: named for messages
        return io.BufferedWriter(raw) if create else io.BufferedReader(raw)


def open_below(root: str | os.PathLike[str], relative: str, flags: int, *, make_folders: bool = False) -> int:
    """A descriptor of ``root/relative`` (``"a/b/name"``), each step below ``root`` taken without
    following a symlink (``ELOOP``), its folders made first when ``make_folders``."""
    *folders, name = relative.split("/")
    with _Folders(os.fspath(root), folders, create=make_folders) as fds:
        return os.open(name, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666, dir_fd=fds[-1])


def drop_symlinked_database(directory: Path) -> list[str]:
    """Remove a ``cache.db`` (or its ``-wal``, ``-shm``) that is a symlink, before anything opens it.

    SQLite follows the link: the file it points at would be read, or initialised and written as a
    database. Only the link goes (it is in the cache folder); the names removed are returned."""
    dropped = []
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
        if (directory / name).is_symlink():
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
            dropped.append(name)
    return dropped


class _Folders:
    """File descriptors of ``root`` and each of ``names`` below it, opened without following a
    symlink (made first when ``create``); all closed on exit."""

    def __init__(self, root: str, names: list[str], *, create: bool) -> None:
        self.root, self.names, self.create = root, names, create
        self.fds: list[int] = []

    def __enter__(self) -> list[int]:
        try:
            self.fds.append(os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)))
            for name in self.names:
                if self.create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, dir_fd=self.fds[-1])
                self.fds.append(os.open(name, _DIR_FLAGS, dir_fd=self.fds[-1]))
        except BaseException:
            self.__exit__()
            raise
        return self.fds

    def __exit__(self, *exc: object) -> None:
        while self.fds:
            os.close(self.fds.pop())


def limit_settings(directory: Path) -> None:
    """Keep only diskcache's own Settings rows, with sound counters, before diskcache reads them.

    On open diskcache applies every Settings row: ``sqlite_*`` ones as PRAGMA text, ``disk_*``
    ones as attributes of the Disk (its folder, say), and any other as an attribute of the Cache.
    Our own settings are passed explicitly and win over the known rows; unknown rows are deleted
    here. Counters that are not integers are recounted (they feed the size limit)."""
    database = directory / "cache.db"
    if not database.is_file():
        return
    known = sorted({*DEFAULT_SETTINGS, *METADATA})
    marks = ",".join("?" * len(known))
    counters = "key IN ('count', 'size', 'hits', 'misses') AND typeof(value) != 'integer'"
    with contextlib.closing(sqlite3.connect(database, timeout=60, isolation_level=None)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "Settings" not in tables:
            return
        damage = f"SELECT 1 FROM Settings WHERE key NOT IN ({marks}) OR ({counters})"
        if db.execute(damage, known).fetchone() is None:
            return  # the usual case: no write on open
        fresh = {"count": "SELECT COUNT(*) FROM Cache", "size": "SELECT COALESCE(SUM(size), 0) FROM Cache"}
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"DELETE FROM Settings WHERE key NOT IN ({marks})", known)
        for name in ("count", "size", "hits", "misses"):
            query = fresh[name] if name in fresh and "Cache" in tables else "SELECT 0"
            db.execute(f"UPDATE Settings SET value = ({query}) WHERE key = ? AND typeof(value) != 'integer'", (name,))
        db.execute("COMMIT")
