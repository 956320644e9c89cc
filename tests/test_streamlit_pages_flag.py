"""The one Streamlit internal the dashboard sets: ``PagesManager.uses_pages_directory``.

``dashboard.navigation.ensure_navigation`` switches it off so that a run which Streamlit started in
its legacy ``pages/`` mode (the first request to a fresh server at a deep link such as /explore,
or ``AppTest.switch_page``) reruns through app.py's ``st.navigation``. Streamlit 1.67 has no
public switch for that (its docs: "As soon as any session of your app executes the st.navigation
command, your app will ignore the pages/ directory", which is the very flag). These tests pin down
what ensure_navigation relies on, so a Streamlit upgrade that changes it fails here, by name,
rather than silently bringing back the legacy mode (pages without the sidebar or page config).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from tests.helpers import APPTEST_TIMEOUT

WHAT_TO_DO = (
    f"Streamlit {streamlit.__version__} changed PagesManager.uses_pages_directory, the flag "
    "dashboard/navigation.py ensure_navigation switches off to keep every run inside app.py's "
    "st.navigation. Read streamlit/runtime/pages_manager.py, runtime/scriptrunner/script_runner.py "
    "(_mpa_v1) and commands/navigation.py; if Streamlit now has a public way to ignore pages/, use it "
    "and drop the flag, else adapt ensure_navigation. Then run tests/test_app_navigation.py and "
    "tests/test_browser_navigation.py (a fresh server's first request at /explore must land on Explore "
    "with the sidebar)."
)


def _pages_manager() -> type:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError as exc:  # pragma: no cover - only after an upgrade
        pytest.fail(f"streamlit.runtime.pages_manager.PagesManager is gone ({exc}). {WHAT_TO_DO}")
    return PagesManager


@pytest.fixture()
def flag() -> Iterator[type]:
    """PagesManager, with its class-wide flag put back as it was after the test."""
    manager = _pages_manager()
    before = manager.__dict__.get("uses_pages_directory")
    yield manager
    manager.uses_pages_directory = before


def test_the_flag_is_a_class_attribute_that_starts_unset(flag):
    assert "uses_pages_directory" in flag.__dict__, f"uses_pages_directory is not a class attribute. {WHAT_TO_DO}"
    annotation = inspect.get_annotations(flag).get("uses_pages_directory")
    assert annotation is not None and "None" in str(annotation), f"the flag is no longer optional. {WHAT_TO_DO}"


@pytest.mark.parametrize("with_pages", [True, False])
def test_a_first_pages_manager_sets_the_flag_from_the_pages_folder(flag, tmp_path, with_pages):
    (tmp_path / "app.py").write_text("import streamlit as st\n", encoding="utf-8")
    if with_pages:
        (tmp_path / "pages").mkdir()
    flag.uses_pages_directory = None
    flag(str(tmp_path / "app.py"), setup_watcher=False)
    assert flag.uses_pages_directory is with_pages, (
        f"a fresh PagesManager beside {'a' if with_pages else 'no'} pages/ folder left the flag at "
        f"{flag.uses_pages_directory!r}. {WHAT_TO_DO}"
    )
    flag.uses_pages_directory = not with_pages
    flag(str(tmp_path / "app.py"), setup_watcher=False)
    assert flag.uses_pages_directory is (not with_pages), f"a later PagesManager reset the flag. {WHAT_TO_DO}"


def test_legacy_runs_still_go_through_the_flag():
    from streamlit.runtime.scriptrunner import script_runner

    source = inspect.getsource(script_runner)
    assert hasattr(script_runner, "_mpa_v1") and "if PagesManager.uses_pages_directory:" in source, (
        f"the script runner no longer chooses the legacy pages/ mode by this flag. {WHAT_TO_DO}"
    )


def test_st_navigation_switches_the_legacy_mode_off(flag, tmp_path: Path):
    """In a real script run beside a pages/ folder: the run starts in the legacy mode (the flag is
    True) and the public st.navigation turns it off, as ensure_navigation does by hand."""
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "other.py").write_text("import streamlit as st\nst.markdown('other')\n", encoding="utf-8")
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import streamlit as st
            from streamlit.runtime.pages_manager import PagesManager

            before = PagesManager.uses_pages_directory
            page = st.navigation([st.Page("pages/other.py", title="Other", default=True)])
            st.markdown(f"before={before} after={PagesManager.uses_pages_directory}")
            """
        ),
        encoding="utf-8",
    )
    at = AppTest.from_file(str(script), default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.markdown] == ["before=True after=False"], WHAT_TO_DO
