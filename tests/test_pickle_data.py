"""The data-only pickle parser behind ``qdrant:``: real qdrant-client points decode to their fields, and
nothing in a blob is ever imported or called (the hostile blobs below would create a marker file if it were).
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from analysis.vectors.stores.pickle_data import MAX_DEPTH, Name, PickleDataError, Record, loads_data


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file exists only if a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def point(vector, payload=None, point_id=7):
    from qdrant_client import models

    return models.PointStruct(id=point_id, vector=vector, payload=payload)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_real_point_decodes_to_its_fields(protocol):
    rng = np.random.default_rng(protocol)
    vector = rng.normal(size=384).tolist()
    payload = {"text": "héllo", "label": "b", "n": -3, "big": 2**70, "f": [1.5, None, True], "raw": b"\x00\x01"}
    decoded = loads_data(pickle.dumps(point(vector, payload), protocol=protocol))
    assert isinstance(decoded, Record) and decoded.name == Name("qdrant_client.http.models.models", "PointStruct")
    assert decoded.fields["id"] == 7 and decoded.fields["payload"] == payload
    got = decoded.fields["vector"]
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    assert np.array_equal(got, np.asarray(vector))  # bit for bit: the floats are the pickled doubles


def test_named_vectors_and_a_uuid_id_decode():
    uuid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
    decoded = loads_data(pickle.dumps(point({"img": [1.0, 2.0, 3.0], "txt": [0.5, -0.25]}, point_id=uuid)))
    assert decoded.fields["id"] == uuid and decoded.fields["payload"] is None
    assert decoded.fields["vector"]["img"].tolist() == [1.0, 2.0, 3.0]
    assert decoded.fields["vector"]["txt"].tolist() == [0.5, -0.25]


def test_plain_data_round_trips_as_plain_data():
    value = {
        "a": [1, 2.5, "x", None, True, False],
        "b": (1, 2, 3, 4),
        "c": {1, 2},
        "d": frozenset({3}),
        "e": -(2**40),
        "g": (0.5, 1.5, 2.5, 3.5),
    }
    decoded = loads_data(pickle.dumps(value, protocol=4))
    assert decoded["a"] == value["a"] and decoded["b"] == value["b"] and decoded["e"] == value["e"]
    assert decoded["g"] == value["g"]  # floats outside a list stay floats
    assert sorted(decoded["c"]) == [1, 2] and decoded["d"] == (3,)  # sets as lists, frozensets as tuples
    shared = [1.0, 2.0]
    again = loads_data(pickle.dumps({"x": shared, "y": shared}, protocol=4))
    assert again["x"] is again["y"]  # the memo shares, as in the data


def test_a_hostile_blob_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    for blob in (
        pickle.dumps(Payload(marker)),
        pickle.dumps(Payload(marker), protocol=2),
        pickle.dumps(point([1.0, 2.0], {"text": Payload(marker)})),  # a point carrying it in its payload
    ):
        with pytest.raises(PickleDataError, match=r"names (builtins|__builtin__|io)\.open, which a point never holds"):
            loads_data(blob)
    assert not marker.exists()
    # Even when the name is let through, nothing is called: REDUCE makes a record of the name and arguments.
    record = loads_data(pickle.dumps(Payload(marker)), allowed=frozenset({("builtins", "open"), ("io", "open")}))
    assert isinstance(record, Record) and record.args == (str(marker), "w")
    assert not marker.exists()
    # The control: unpickling the same bytes does run it.
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize(
    ("blob", "fragment"),
    [
        (b"\x80\x04K\x01", "no STOP"),
        (b"\x80\x04K\x01.junk", "bytes follow"),
        (b"\x80\x04\x8c\x05ab.", "ends in the middle"),
        (b"\x80\x04(" * (MAX_DEPTH + 1) + b".", "levels deep"),
        (b"\x80\x04h\x05.", "never put"),
        (b"\x80\x04\x8a\xff" + b"\x01" * 255 + b".", "integer of 255 bytes"),
        (b"\x80\x04K\x01Q.", "opcode b'Q'"),  # BINPERSID: a persistent id reaches outside the stream
        (b"\x80\x04\x82\x01.", "opcode b'\\x82'"),  # EXT1: the extension registry
        (b"cos\nsystem\n(S'touch x'\ntR.", "names os.system"),
        (b"\x80\x04}]K\x01s.", "a dict key is not a plain value"),
        (b"\x80\x04K\x01K\x02b.", "BUILD of something that is not a record"),
        (b"\x80\x06K\x01.", "protocol 6"),
    ],
)
def test_malformed_blobs_are_one_clear_error(blob, fragment):
    with pytest.raises(PickleDataError) as caught:
        loads_data(blob)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_blob_over_the_size_limit_is_refused_before_parsing(monkeypatch):
    import analysis.vectors.stores.pickle_data as module

    monkeypatch.setattr(module, "MAX_BLOB_BYTES", 100)
    with pytest.raises(PickleDataError, match="more than 100"):
        loads_data(pickle.dumps(list(range(100))))


def test_random_damage_gives_only_the_parsers_own_error(tmp_path):
    # Any corruption of a real point either still parses to plain data or is a PickleDataError: nothing else escapes.
    good = pickle.dumps(point(np.linspace(-1, 1, 16).tolist(), {"text": "t", "label": "l"}))
    rng = random.Random(20261207)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(3000):
        blob = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        if rng.random() < 0.2:
            del blob[rng.randrange(len(blob)) :]
        try:
            loads_data(bytes(blob))
            outcomes["parsed"] += 1
        except PickleDataError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000 and outcomes["parsed"] > 10, outcomes
