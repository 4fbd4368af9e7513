"""Build hook: put the browser demo (web/) into the package before it is built.

All metadata lives in pyproject.toml; this file only adds a `build_py` step that
runs `npm ci && npm run build` in web/ when chat_core/web_dist/index.html is
missing. Without npm the package still builds, without the demo page.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
WEB_DIST_INDEX = ROOT / "chat_core" / "web_dist" / "index.html"


def _warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def build_web_demo() -> None:
    if WEB_DIST_INDEX.is_file():
        return
    if not (WEB / "package.json").is_file():
        _warn("web/ is not in this source tree; building without the demo page (chat_core/web_dist).")
        return
    npm = shutil.which("npm")
    if npm is None:
        _warn(
            "npm was not found; building without the demo page. "
            "Install Node.js 20+ and npm, or run `npm ci && npm run build` in web/ first."
        )
        return
    print("building the web demo: npm ci && npm run build (in web/)", file=sys.stderr)
    for args in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        subprocess.run(args, cwd=WEB, check=True)
    if not WEB_DIST_INDEX.is_file():
        raise RuntimeError(f"`npm run build` did not produce {WEB_DIST_INDEX}")


class BuildPyWithWeb(build_py):
    """build_py that first builds web/ into chat_core/web_dist (package data)."""

    def run(self) -> None:
        build_web_demo()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWeb})
