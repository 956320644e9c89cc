"""Public mode outside Docker keeps the same limits (issue 19, part 7), under AppTest.

* Streamlit's own ``server.maxUploadSize`` (200 MB in .streamlit/config.toml) is what its upload
  endpoint accepts from anyone; in public mode the app lowers it to the policy's largest cap, and
  each upload widget advertises the cap the policy applies to its kind of file.
* A visitor never sees advice meant for the server's owner: an allow-listed model that is not
  installed says "not available on this demo"; the ``pip install`` goes to the server's log.
"""

from __future__ import annotations

import logging

import pytest
from streamlit import config

from dashboard import policy
from tests.helpers import ok, open_page, texts

pytestmark = pytest.mark.slow  # each runs the app under AppTest

STREAMLIT_DEFAULT_MB = 200


@pytest.fixture()
def server_limit():
    """Streamlit's server.maxUploadSize as a plain `streamlit run app.py` has it, restored afterwards."""
    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", STREAMLIT_DEFAULT_MB)
    yield
    config.set_option("server.maxUploadSize", before)


@pytest.fixture()
def public(monkeypatch):
    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    yield policy.current_policy()
    monkeypatch.delenv("DIMSCOPE_PUBLIC")
    policy.reset_policy()


def advertised_mb(at) -> dict[str, int]:
    """What each upload widget on the page tells the browser it takes ("Limit N MB per file")."""
    return {key: at.file_uploader(key=key).proto.max_upload_size_mb for key in ("corpus_upload", "vectors_upload")}


def test_public_mode_lowers_the_servers_upload_limit_to_the_policys_cap(server_limit, public):
    assert (public.max_upload_bytes, public.max_vector_upload_bytes) == (10 * 2**20, 32 * 2**20)
    at = open_page("pages/corpus.py")
    ok(at)
    # The endpoint receives nothing larger than the largest file the policy takes...
    assert config.get_option("server.maxUploadSize") == public.upload_cap_mb == 32
    # ...and each widget promises exactly what the policy then accepts for it.
    assert advertised_mb(at) == {"corpus_upload": 10, "vectors_upload": 32}


def test_a_server_limit_below_the_policy_is_what_the_widgets_advertise(public):
    """The Docker image starts Streamlit with --server.maxUploadSize=10: the embeddings widget must
    not promise the policy's 32 MB that the server would refuse."""
    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 10)
    try:
        at = open_page("pages/corpus.py")
        ok(at)
        assert config.get_option("server.maxUploadSize") == 10
        assert advertised_mb(at) == {"corpus_upload": 10, "vectors_upload": 10}
    finally:
        config.set_option("server.maxUploadSize", before)


def test_private_mode_keeps_streamlits_limit(server_limit):
    at = open_page("pages/corpus.py")
    ok(at)
    assert config.get_option("server.maxUploadSize") == STREAMLIT_DEFAULT_MB
    assert advertised_mb(at) == {"corpus_upload": 200, "vectors_upload": 200}


def test_a_visitor_is_told_the_model_is_not_available_and_the_owner_gets_the_advice(
    public, monkeypatch, tmp_path, caplog
):
    from analysis.errors import ModelUnavailableError
    from analysis.models import MPNET_INSTALL_COMMAND

    monkeypatch.setenv("DIMSCOPE_IGNORE_PACKAGED_MODELS", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # no hub cache either
    monkeypatch.setattr(policy, "_TOLD_OWNER", set())
    hub_id = "sentence-transformers/all-mpnet-base-v2"
    assert hub_id in public.allowed_models
    # Private mode: the user runs the server, and the library's advice is for them.
    with pytest.raises(ModelUnavailableError, match="pip install"):
        policy.Policy().resolve(hub_id)

    with caplog.at_level(logging.WARNING, logger="dimscope.owner"):
        at = open_page("pages/explore.py", params={"model": "all-mpnet-base-v2"})
        ok(at)
    shown = " ".join(texts(at.error) + texts(at.caption) + texts(at.sidebar.caption) + texts(at.info))
    assert "all-mpnet-base-v2 is not available on this demo right now" in " ".join(texts(at.error)), shown
    assert "not available on this demo" in " ".join(texts(at.sidebar.caption))
    for advice in ("pip install", "connect to the internet", "local folder", "HF_HUB_OFFLINE"):
        assert advice not in shown, advice
    # The owner finds the fix in the server's log, once.
    told = [r.getMessage() for r in caplog.records if r.name == "dimscope.owner"]
    assert any(MPNET_INSTALL_COMMAND in message for message in told), told
    assert len(told) == len(set(told))


def test_the_backends_auto_could_not_try_are_the_owners_business(public, monkeypatch, caplog, warm_cache_dir):
    """On an install without onnxruntime or openvino, a private user reads "pip install -r
    requirements.txt" under each result; a public visitor does not, the owner's log does."""
    from dashboard import compute

    note = "auto could not try onnx or openvino: not installed (pip install -r requirements.txt)"
    monkeypatch.setattr(compute, "missing_runtimes_note", lambda: note)
    monkeypatch.setattr(policy, "_TOLD_OWNER", set())
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    with caplog.at_level(logging.WARNING, logger="dimscope.owner"):
        at = open_page("pages/explore.py")
        ok(at)
    assert not any("pip install" in c for c in texts(at.caption)), texts(at.caption)
    assert any(r.getMessage() == note for r in caplog.records if r.name == "dimscope.owner")
