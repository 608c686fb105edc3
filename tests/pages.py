"""Checks on the HTML pages eventkit writes: offline, escaped, and rendered by Chromium.

``render`` runs Debian's ``chromium`` headless (``--no-sandbox``: CI runs as root) to
dump the DOM and take a screenshot, with the browser's console log on stderr;
``CHROMIUM_MISSING`` says why browser tests skip when it is not on PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_MISSING = (
    None if CHROMIUM else "chromium is not on PATH (Debian's chromium package; .ci/run installs it)"
)

# Anything that would make a browser fetch: a remote (or protocol-relative) src/href,
# a script or stylesheet element, a CSS import or url().
_REMOTE_ATTR = re.compile(
    r"""\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I
)
_LOADERS = re.compile(r"<script\b|<link\b|<iframe\b|<object\b|<embed\b|<base\b", re.I)
_CSS_LOADERS = re.compile(r"@import|url\(", re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>|\bstyle\s*=\s*\"([^\"]*)\"", re.I | re.S)


def offline_problems(html: str) -> list[str]:
    """What in ``html`` would load something (empty when the page is self-contained).

    Tags and attributes are looked for everywhere (escaped transcript text holds none);
    CSS ``url()`` and ``@import`` inside style elements and attributes.
    """
    found = [m.group(0) for m in _REMOTE_ATTR.finditer(html)]
    found += [m.group(0) for m in _LOADERS.finditer(html)]
    for match in _STYLE.finditer(html):
        css = match.group(1) or match.group(2) or ""
        found += [m.group(0) for m in _CSS_LOADERS.finditer(css)]
    return found


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: str
    screenshot: Path


def render(page: Path, screenshot: Path, *, height: int = 2400) -> Rendered:
    """The page as headless Chromium renders it: its DOM, its console log, a screenshot."""
    assert CHROMIUM is not None, CHROMIUM_MISSING
    profile = screenshot.parent / f".chromium-{screenshot.stem}"
    common = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size=1200,{height}",
    ]
    url = page.resolve().as_uri()
    dumped = subprocess.run(
        [*common, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    shot = subprocess.run(
        [*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120
    )
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    assert shot.returncode == 0, shot.stderr[-3000:]
    return Rendered(dumped.stdout, dumped.stderr + shot.stderr, screenshot)


def console_errors(log: str) -> list[str]:
    """The page's own errors in Chromium's log (not the browser's start-up chatter)."""
    return [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def visible_text(dom: str) -> str:
    """The DOM's text without tags and the style element (entities left as they are)."""
    body = re.sub(r"<style\b.*?</style>", "", dom, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", body)
