"""The wheel: built from the sdist, it carries the migrations, installs offline, and works.

``python -m build`` builds the sdist from the repository, then the wheel from that sdist
(as a package index or a downstream packager would), once per module, with the venv's
own build backend (no download). A file the wheel carries but the sdist leaves out
fails the build ("Forced include not found").
It is installed with ``--no-deps --no-index`` into a fresh venv; that venv finds the
pinned dependencies through a ``.pth`` line naming this interpreter's site-packages,
which holds no ``eventkit`` package directory (the editable install's path hook is a
``.pth`` there, and ``.pth`` files are read only in site directories), so the wheel's
copy is the only ``eventkit`` the new venv can import. All steps share one 180-second
budget (a step that would overrun it fails); the module usually takes 10-20 seconds,
but a loaded CI machine may be several times slower.
"""

from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import sys
import tarfile
import textwrap
import time
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUDGET_S = 180
_deadline: list[float] = []  # set when the first step starts

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hatchling") is None or importlib.util.find_spec("build") is None,
    reason="hatchling and build are needed to build the wheel offline (pip install -e '.[dev]')",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point Python or pip back at the repo."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))
    }
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(args: list[str | Path], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a step within what is left of the module's time budget; it must succeed."""
    if not _deadline:
        _deadline.append(time.monotonic() + BUDGET_S)
    left = _deadline[0] - time.monotonic()
    assert left > 0, f"the packaging checks took over {BUDGET_S} s"
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=left,
        **kwargs,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it (``build`` without --sdist/--wheel does both)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO], out)
    return out


@pytest.fixture(scope="module")
def sdist(dist) -> Path:
    (built,) = dist.glob("eventkit-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def wheel(dist) -> Path:
    (built,) = dist.glob("eventkit-*.whl")
    return built


def test_the_sdist_carries_what_the_wheel_is_built_from(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "pyproject.toml" in names and "README.md" in names
    assert "notebooks/02_session_analytics.ipynb" in names
    assert {f"migrations/{p.name}" for p in (REPO / "migrations").glob("*.sql")} <= names
    assert "eventkit/catalog/prices.json" in names
    # the repository's own scripts and data stay out of the sdist
    assert not any(n.startswith(("data/", "tests/", "benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root)
    python = root / "bin" / "python"
    install = [python, "-I", "-m", "pip", "install", "--no-deps", "--no-index", wheel]
    run([*install, "--no-cache-dir", "--quiet"], root)
    (target_site,) = (root / "lib").glob("python3*/site-packages")
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (target_site / "_eventkit_test_deps.pth").write_text("\n".join(deps) + "\n")
    return python


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working directory outside the repository."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    return work


def test_wheel_carries_the_package_and_its_migrations(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        sql_files = sorted((REPO / "migrations").glob("*.sql"))
        assert sql_files, "no migrations in the repository"
        for sql in sql_files:
            inside = f"eventkit/migrations/{sql.name}"
            assert inside in names
            assert archive.read(inside) == sql.read_bytes()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "eventkit = eventkit.cli:main" in archive.read(entry_points).decode()
    # every module of the source tree, and nothing else of the repository
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "eventkit").rglob("*.py")}
    assert modules <= names
    # data the package reads at run time: the price table and the report notebook
    assert "eventkit/catalog/prices.json" in names
    assert "eventkit/notebooks/session_analytics.ipynb" in names
    notebook = REPO / "notebooks" / "02_session_analytics.ipynb"
    assert archive_notebook(wheel) == notebook.read_bytes()
    assert not any(n.startswith(("tests/", "data/", "notebooks/", "benchmarks/")) for n in names)
    # the sample-log recipe reads the repository's data/: a repository script, not shipped
    assert not any(Path(n).name in ("sample.py", "build_sample.py") for n in names)


def archive_notebook(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read("eventkit/notebooks/session_analytics.ipynb")


def test_the_new_venv_imports_the_wheel_not_the_repo(venv_python, elsewhere):
    result = run(
        [venv_python, "-I", "-c", "import eventkit, sys; print(eventkit.__file__)"], elsewhere
    )
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(venv_python.parent.parent.resolve())
    assert not location.is_relative_to(REPO)


def test_installed_package_creates_a_log_and_appends(venv_python, elsewhere):
    script = elsewhere / "use_eventkit.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sqlite3
            from datetime import datetime, timezone
            import eventkit as ek
            from eventkit.apps.report import analytics_notebook
            from eventkit.log.migrations import known_migrations, migrations_dir

            conn = ek.open_or_create_db("logs")
            store = ek.EventStore(conn)
            at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
            stored = store.append(ek.ProjectCreated(id="p1", name="demo", path="/src", at=at))
            replayed = list(store.replay_all())
            store.close()
            raw = sqlite3.connect("logs/events.db")
            applied = raw.execute("SELECT name FROM schema_migrations").fetchall()
            print(json.dumps({
                "package": ek.__file__,
                "migrations": str(migrations_dir()),
                "migration_sql": {
                    p.stem: p.read_text() for p in sorted(migrations_dir().glob("*.sql"))
                },
                "known_migrations": [m.version for m in known_migrations()],
                "notebook": str(analytics_notebook()),
                "notebook_cells": len(json.loads(analytics_notebook().read_text())["cells"]),
                "sequence": stored.sequence,
                "replayed": [s.event.model_dump(mode="json") for s in replayed],
                "applied": [name for (name,) in applied],
            }))
            """
        )
    )
    result = run([venv_python, "-I", script], elsewhere)
    report = json.loads(result.stdout)
    venv_root = venv_python.parent.parent.resolve()
    assert Path(report["package"]).resolve().is_relative_to(venv_root)
    # The migrations come from inside the installed package, not from a source tree.
    assert Path(report["migrations"]).resolve() == Path(report["package"]).resolve().parent / (
        "migrations"
    )
    repo_sql = {p.stem: p.read_text() for p in sorted((REPO / "migrations").glob("*.sql"))}
    assert report["migration_sql"] == repo_sql
    assert len(report["known_migrations"]) == len(repo_sql)
    # ek.report's notebook is the installed package's copy
    notebook = Path(report["notebook"]).resolve()
    assert notebook == Path(report["package"]).resolve().parent / "notebooks" / (
        "session_analytics.ipynb"
    )
    repo_notebook = json.loads((REPO / "notebooks" / "02_session_analytics.ipynb").read_text())
    assert report["notebook_cells"] == len(repo_notebook["cells"]) > 0
    assert report["sequence"] == 1
    assert report["replayed"] == [
        {
            "type": "ProjectCreated",
            "at": "2025-01-02T03:04:05.000000Z",
            "id": "p1",
            "name": "demo",
            "path": "/src",
        }
    ]
    assert report["applied"] == sorted(p.stem for p in (REPO / "migrations").glob("*.sql"))
    assert (elsewhere / "logs" / "events.db").is_file()


def test_console_script_runs_from_the_venv(wheel, venv_python, elsewhere):
    with zipfile.ZipFile(wheel) as archive:
        if "eventkit/cli/__init__.py" not in archive.namelist():
            pytest.skip("the wheel has no eventkit/cli/ yet")
    script = venv_python.parent / "eventkit"
    assert script.is_file()
    assert script.read_text().startswith(f"#!{venv_python}")
    result = run([script, "--help"], elsewhere)
    assert "usage" in result.stdout.lower()
