"""Build small git repositories for the producer tests with the real ``git``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_COMMITTER_NAME": "Ann Dev",
    "GIT_COMMITTER_EMAIL": "ann@acme.example",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env={**ENV, **(env or {})}
    )
    assert result.returncode == 0, f"git {args}: {result.stderr}"
    return result.stdout.strip()


def init(repo: Path, remote: str | None = "git@github.com:acme/shop.git") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Ann Dev")
    git(repo, "config", "user.email", "ann@acme.example")
    git(repo, "config", "commit.gpgsign", "false")
    if remote:
        git(repo, "remote", "add", "origin", remote)
    return repo


def commit(
    repo: Path, message: str, files: dict[str, str], author: str = "Ann Dev <ann@acme.example>",
    when: int = 0,
) -> str:  # fmt: skip
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    date = f"2026-01-01T10:{when // 60:02d}:{when % 60:02d}+00:00"
    git(repo, "commit", "-q", "--allow-empty", "--author", author, "-m", message,
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})  # fmt: skip
    return git(repo, "rev-parse", "HEAD")
