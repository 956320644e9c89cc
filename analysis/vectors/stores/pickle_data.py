"""A parser of the pickle format that builds plain data only: it never imports, calls or runs anything.

Qdrant's local mode keeps each point as ``pickle.dumps(PointStruct)`` in SQLite. Unpickling such
a blob runs whatever callables it names (``pickle.loads`` imports the named module and calls the
named object), so a blob written by anyone else can run code. This module does not unpickle. It
reads the pickle byte stream as the data format it is (a small stack machine of opcodes, as
:mod:`pickletools` documents) and builds from it only ``dict``, ``list``, ``tuple``, ``str``,
``bytes``, ``int``, ``float``, ``bool`` and ``None`` (sets become lists, frozensets tuples):

* ``GLOBAL`` / ``STACK_GLOBAL`` become an inert :class:`Name` (two strings), checked against the
  few names a point is made of (:data:`POINT_NAMES`); no module is imported and nothing is looked up;
* ``NEWOBJ`` / ``REDUCE`` on a Name become a :class:`Record` (the name and its arguments) and
  ``BUILD`` stores the state on the record: nothing is called, the record is data to read fields from;
* every other opcode that could reach outside the stream (persistent ids, the extension registry,
  the text-protocol ``INST``/``OBJ``, out-of-band buffers) is refused, as is any opcode not listed.

Input is bounded before it is built: the blob's size (:data:`MAX_BLOB_BYTES`), the stack and memo
(:data:`MAX_ITEMS`), nesting of marks (:data:`MAX_DEPTH`), integer and string sizes. Anything else
is a :class:`PickleDataError` with one line saying what. A run of ``BINFLOAT`` (a vector) is
decoded in one ``numpy.frombuffer`` and kept as a float64 array.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_BLOB_BYTES = 32 << 20
MAX_ITEMS = 1 << 20  # entries on the stack plus entries in the memo
MAX_DEPTH = 64  # nested marks (lists, dicts, tuples being built)
MAX_INT_BYTES = 64
MODELS = "qdrant_client.http.models.models"
#: The globals a qdrant-client point pickle names (pydantic v2 models, written by protocol 2 to 5).
POINT_NAMES = frozenset(
    {
        (MODELS, "PointStruct"),
        (MODELS, "SparseVector"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }
)
FLOAT_OP = 0x47  # 'G' BINFLOAT: 8 bytes, big-endian double


class PickleDataError(ValueError):
    """The blob is not plain pickled data of the expected shape (the message says why, in one line)."""


@dataclass(frozen=True)
class Name:
    """What GLOBAL names: a module and a qualified name, as text. Never imported, never called."""

    module: str
    qualname: str


@dataclass
class Record:
    """What NEWOBJ / REDUCE / BUILD make of a Name: its arguments and state, as plain data."""

    name: Name
    args: tuple[Any, ...] = ()
    state: Any = None
    fields: dict[str, Any] = field(default_factory=dict)


class _Mark:
    pass


MARK = _Mark()


def _need(data: bytes, pos: int, n: int) -> bytes:
    if n < 0 or pos + n > len(data):
        raise PickleDataError("it ends in the middle of an opcode")
    return data[pos : pos + n]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise PickleDataError("a string is not UTF-8") from None


def _float_run(data: bytes, pos: int) -> tuple[np.ndarray, int]:
    """The run of BINFLOAT opcodes at ``pos`` (the first is known to be one), in one decode."""
    n_max = (len(data) - pos) // 9
    if n_max == 0:
        raise PickleDataError("it ends in the middle of an opcode")
    ops = np.frombuffer(data, np.uint8, count=n_max * 9, offset=pos)[::9]
    stop = np.flatnonzero(ops != FLOAT_OP)
    n = int(stop[0]) if stop.size else n_max
    block = np.frombuffer(data, np.uint8, count=n * 9, offset=pos).reshape(n, 9)[:, 1:]
    values = np.ascontiguousarray(block).view(">f8").reshape(n).astype(np.float64)
    return values, pos + 9 * n


def _pop_mark(stack: list[Any], marks: list[int]) -> list[Any]:
    if not marks:
        raise PickleDataError("an opcode needs a mark that is not there")
    start = marks.pop()
    items = stack[start:]
    del stack[start:]
    return items


def _setitems(target: Any, items: list[Any]) -> None:
    if not isinstance(target, dict) or len(items) % 2:
        raise PickleDataError("SETITEMS on something that is not a dict")
    for key, value in zip(items[::2], items[1::2], strict=True):
        if isinstance(key, (dict, list, np.ndarray, Record)):
            raise PickleDataError("a dict key is not a plain value")
        target[key] = value


def _extend(target: Any, items: list[Any]) -> None:
    if not isinstance(target, list):
        raise PickleDataError("APPENDS on something that is not a list")
    target.extend(items)


def loads_data(data: bytes, allowed: frozenset[tuple[str, str]] = POINT_NAMES) -> Any:
    """The plain data in one pickle; a :class:`PickleDataError` for anything outside the subset."""
    if len(data) > MAX_BLOB_BYTES:
        raise PickleDataError(f"it is {len(data):,} bytes, more than {MAX_BLOB_BYTES:,}")
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    last_put: int | None = None  # the memo key put last (the vector's list, when a run of floats follows)
    pos = 0
    end = len(data)
    while pos < end:
        if len(stack) + len(memo) > MAX_ITEMS:
            raise PickleDataError(f"it holds more than {MAX_ITEMS:,} items")
        op = data[pos]
        pos += 1
        if op == FLOAT_OP:
            # A run of floats after a MARK inside a list: the vector; decoded at once.
            values, pos = _float_run(data, pos - 1)
            if marks and marks[-1] == len(stack) > 0 and pos < end and data[pos] == 0x65:
                target = stack[-1]
                if isinstance(target, list) and not target:  # EMPTY_LIST [MEMOIZE] MARK floats APPENDS
                    marks.pop()
                    stack[-1] = values
                    pos += 1
                    if last_put is not None and memo.get(last_put) is target:
                        memo[last_put] = values
                    continue
            if len(stack) + values.size > MAX_ITEMS:
                raise PickleDataError(f"it holds more than {MAX_ITEMS:,} items")
            stack.extend(values.tolist())
            continue
        if op == 0x80:  # PROTO
            version = _need(data, pos, 1)[0]
            if version > 5:
                raise PickleDataError(f"pickle protocol {version} is unknown")
            pos += 1
        elif op == 0x95:  # FRAME: a length hint, the bytes follow inline
            pos += 8
        elif op == 0x2E:  # STOP
            if len(stack) != 1 or marks:
                raise PickleDataError("it stops with a malformed stack")
            if pos != end:
                raise PickleDataError("bytes follow its STOP opcode")
            return stack[0]
        elif op == 0x28:  # MARK
            if len(marks) >= MAX_DEPTH:
                raise PickleDataError(f"it nests more than {MAX_DEPTH} levels deep")
            marks.append(len(stack))
        elif op == 0x4E:  # NONE
            stack.append(None)
        elif op == 0x88:  # NEWTRUE
            stack.append(True)
        elif op == 0x89:  # NEWFALSE
            stack.append(False)
        elif op == 0x4A:  # BININT
            stack.append(struct.unpack("<i", _need(data, pos, 4))[0])
            pos += 4
        elif op == 0x4B:  # BININT1
            stack.append(_need(data, pos, 1)[0])
            pos += 1
        elif op == 0x4D:  # BININT2
            stack.append(struct.unpack("<H", _need(data, pos, 2))[0])
            pos += 2
        elif op in (0x8A, 0x8B):  # LONG1, LONG4
            width = 1 if op == 0x8A else 4
            n = int.from_bytes(_need(data, pos, width), "little")
            if n > MAX_INT_BYTES:
                raise PickleDataError(f"an integer of {n:,} bytes")
            pos += width
            stack.append(int.from_bytes(_need(data, pos, n), "little", signed=True))
            pos += n
        elif op in (0x8C, 0x58, 0x8D, 0x43, 0x42, 0x8E):
            # SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, SHORT_BINBYTES, BINBYTES, BINBYTES8
            width = {0x8C: 1, 0x58: 4, 0x8D: 8, 0x43: 1, 0x42: 4, 0x8E: 8}[op]
            n = int.from_bytes(_need(data, pos, width), "little")
            pos += width
            raw = _need(data, pos, n)
            pos += n
            stack.append(_text(raw) if op in (0x8C, 0x58, 0x8D) else bytes(raw))
        elif op == 0x5D:  # EMPTY_LIST
            stack.append([])
        elif op == 0x7D:  # EMPTY_DICT
            stack.append({})
        elif op == 0x29:  # EMPTY_TUPLE
            stack.append(())
        elif op == 0x8F:  # EMPTY_SET: kept as a list
            stack.append([])
        elif op in (0x61, 0x65, 0x90):  # APPEND, APPENDS, ADDITEMS
            if op == 0x61:
                if len(stack) < 2:
                    raise PickleDataError("APPEND with nothing to append to")
                items = [stack.pop()]
            else:
                items = _pop_mark(stack, marks)
            if not stack:
                raise PickleDataError("APPEND with nothing to append to")
            _extend(stack[-1], items)
        elif op == 0x73:  # SETITEM
            if len(stack) < 3:
                raise PickleDataError("SETITEM without a dict")
            value, key = stack.pop(), stack.pop()
            _setitems(stack[-1], [key, value])
        elif op == 0x75:  # SETITEMS
            items = _pop_mark(stack, marks)
            if not stack:
                raise PickleDataError("SETITEMS without a dict")
            _setitems(stack[-1], items)
        elif op == 0x74:  # TUPLE
            stack.append(tuple(_pop_mark(stack, marks)))
        elif op in (0x85, 0x86, 0x87):  # TUPLE1, TUPLE2, TUPLE3
            n = op - 0x84
            if len(stack) < n:
                raise PickleDataError("a tuple of missing items")
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif op == 0x91:  # FROZENSET: kept as a tuple
            stack.append(tuple(_pop_mark(stack, marks)))
        elif op == 0x94:  # MEMOIZE
            if not stack:
                raise PickleDataError("MEMOIZE of nothing")
            last_put = len(memo)
            memo[last_put] = stack[-1]
        elif op in (0x71, 0x72):  # BINPUT, LONG_BINPUT
            width = 1 if op == 0x71 else 4
            if not stack:
                raise PickleDataError("PUT of nothing")
            last_put = int.from_bytes(_need(data, pos, width), "little")
            memo[last_put] = stack[-1]
            pos += width
        elif op in (0x68, 0x6A):  # BINGET, LONG_BINGET
            width = 1 if op == 0x68 else 4
            key = int.from_bytes(_need(data, pos, width), "little")
            pos += width
            if key not in memo:
                raise PickleDataError("GET of a memo entry that was never put")
            stack.append(memo[key])
        elif op == 0x30:  # POP
            if stack and marks and len(stack) == marks[-1]:
                raise PickleDataError("POP of a mark")
            if not stack:
                raise PickleDataError("POP of nothing")
            stack.pop()
        elif op == 0x31:  # POP_MARK
            _pop_mark(stack, marks)
        elif op in (0x63, 0x93):  # GLOBAL (two text lines), STACK_GLOBAL (two strings on the stack)
            if op == 0x63:
                line_end = data.find(b"\n", pos)
                second = data.find(b"\n", line_end + 1) if line_end >= 0 else -1
                if second < 0 or second - pos > 512:
                    raise PickleDataError("GLOBAL without two short lines")
                module, qualname = _text(data[pos:line_end]), _text(data[line_end + 1 : second])
                pos = second + 1
            else:
                if len(stack) < 2 or not all(isinstance(s, str) for s in stack[-2:]):
                    raise PickleDataError("STACK_GLOBAL without two strings")
                qualname, module = stack.pop(), stack.pop()
            if (module, qualname) not in allowed:
                raise PickleDataError(f"it names {module[:80]}.{qualname[:80]}, which a point never holds")
            stack.append(Name(module, qualname))
        elif op in (0x81, 0x52):  # NEWOBJ (cls, args), REDUCE (callable, args): a record, nothing called
            if len(stack) < 2:
                raise PickleDataError("NEWOBJ or REDUCE without a name and arguments")
            args, name = stack.pop(), stack.pop()
            if not isinstance(name, Name) or not isinstance(args, tuple):
                raise PickleDataError("NEWOBJ or REDUCE of something that is not a name")
            stack.append(_record(name, args))
        elif op == 0x62:  # BUILD: the state goes onto the record
            if len(stack) < 2:
                raise PickleDataError("BUILD without an object")
            state = stack.pop()
            target = stack[-1]
            if not isinstance(target, Record):
                raise PickleDataError("BUILD of something that is not a record")
            target.state = state
            target.fields = _fields(state)
        else:
            raise PickleDataError(f"opcode {bytes([op])!r} at byte {pos - 1:,} is not one plain data is made of")
    raise PickleDataError("it has no STOP opcode")


def _record(name: Name, args: tuple[Any, ...]) -> Any:
    """NEWOBJ / REDUCE on a name: a set or frozenset is its items; anything else a Record."""
    if name == Name("builtins", "set") and len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0])
    if name == Name("builtins", "frozenset") and len(args) <= 1:
        return tuple(args[0]) if args else ()
    if name == Name("copyreg", "_reconstructor") and args and isinstance(args[0], Name):
        return Record(args[0], args[1:])
    return Record(name, args)


def _fields(state: Any) -> dict[str, Any]:
    """A model's fields from its pickled state: pydantic v2 ``{'__dict__': {...}, ...}``, v1 the same, or a dict."""
    if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
        state = state[0] if isinstance(state[0], dict) else state[1]
    if not isinstance(state, dict):
        raise PickleDataError("an object's state is not a dict")
    inner = state.get("__dict__", state)
    if not isinstance(inner, dict):
        raise PickleDataError("an object's fields are not a dict")
    return inner
