"""HTML reports: the session-analytics notebook executed against a log.

``report(log, out_html)`` runs ``notebooks/02_session_analytics.ipynb`` (shipped in
the wheel as ``eventkit/notebooks/session_analytics.ipynb``) in a fresh kernel with
``EVENTKIT_LOG`` pointing at the log, then writes the executed notebook as HTML.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from eventkit.errors import EventkitError, LogNotFoundError, ReportError
from eventkit.log.files import resolve_log_path
from eventkit.progress import progress_bar

NOTEBOOK_NAME = "02_session_analytics.ipynb"


def analytics_notebook() -> Path:
    """The analytics notebook: inside the installed package, or the repository's."""
    packaged = Path(__file__).parents[1] / "notebooks" / "session_analytics.ipynb"
    if packaged.is_file():
        return packaged
    source_tree = Path(__file__).parents[2] / "notebooks" / NOTEBOOK_NAME
    if source_tree.is_file():
        return source_tree
    raise EventkitError(f"the analytics notebook is missing (looked in {packaged}, {source_tree})")


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def report(
    log: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    *,
    include_code: bool = False,
    progress: bool | None = None,
    timeout: int = 900,
) -> Path:
    """Execute the analytics notebook against ``log`` and write it as HTML to ``out_html``.

    Returns the path written. A progress bar counts executed cells in a terminal.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    log_path = resolve_log_path(log)
    if not log_path.is_file():
        raise LogNotFoundError(f"no eventkit log at {log}")
    notebook = nbformat.read(analytics_notebook(), as_version=4)
    notebook.metadata["title"] = f"eventkit report: {log_path.name}"
    code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")

    with (
        progress_bar(total=code_cells, desc="report", unit="cell", enabled=progress) as bar,
        tempfile.TemporaryDirectory(prefix="eventkit-report-") as workdir,
        _environment(EVENTKIT_LOG=str(log_path.resolve()), TQDM_DISABLE="1"),
    ):
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": workdir}},
            on_cell_executed=lambda **_: bar.update(1),
        )
        try:
            # The kernel's own start-up chatter is not the report's business; cell
            # errors still arrive through CellExecutionError.
            client.execute(stderr=subprocess.DEVNULL)
        except CellExecutionError as exc:
            raise ReportError(f"the report notebook failed on {log_path}: {exc}") from exc

    exporter = HTMLExporter(template_name="lab", exclude_input=not include_code)
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": log_path.stem}})
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
