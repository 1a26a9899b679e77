"""Facts about the machine and the code a benchmark ran on, for its artifact."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Packages whose versions are recorded with every artifact.
RECORDED_PACKAGES: tuple[str, ...] = (
    "ddbench",
    "aiohttp",
    "numpy",
    "pandas",
    "pyarrow",
    "simpy",
    "matplotlib",
    "jinja2",
    "pyyaml",
    "rich",
    "scipy",
)


def git_state(root: Path | None = None) -> dict[str, object]:
    """The commit and whether the work tree had changes; ``None`` outside a checkout."""
    root = root or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_facts() -> dict[str, object]:
    """Python, OS, processor and core count: enough to tell two machines apart."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
    }


def environment_record() -> dict[str, object]:
    """Everything an artifact records about where it was made."""
    return {"git": git_state(), "packages": package_versions(), "machine": machine_facts()}
