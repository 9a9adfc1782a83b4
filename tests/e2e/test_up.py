"""`provledger up` as a newcomer runs it: the demo's suspects URL answers with the culprit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import free_port, server_env, start_provledger
from tests.support.waiting import OutputReader

URL = re.compile(r"suspects: (http://127\.0\.0\.1:\d+/v1/incidents/INC-DEMO-1/suspects)")
TRY = re.compile(r"try: +(.+)$", re.MULTILINE)


def test_up_loads_the_demo_and_prints_its_suspects_url(settings):
    port = free_port()
    # A newcomer's shell: the venv holding provledger is not on PATH.
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d != venv_bin)
    env = {**server_env(settings, port), "PATH": path}
    process = start_provledger(["up", "--port", str(port)], env)
    assert process.stdout is not None
    reader = OutputReader(process.stdout)
    try:
        output = reader.wait_for("Ctrl-C stops everything", 60)
        found = URL.search(output)
        assert found, f"no suspects URL in the output of `provledger up`:\n{output}"
        assert found.group(1) == f"http://127.0.0.1:{port}/v1/incidents/INC-DEMO-1/suspects"
        body = httpx.get(found.group(1), timeout=10).json()
        top = body["suspects"][0]
        assert top["event_id"] == "dep-checkout-prod"
        assert top["changes"][0]["senior_approved"] is False
        assert "provledger suspects INC-DEMO-1" in output
        # The command to try runs as printed, in that shell.
        tried = subprocess.run(
            ["sh", "-c", TRY.search(output).group(1)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tried.returncode == 0, tried.stderr
        assert "INC-DEMO-1" in tried.stdout
        page = f"http://127.0.0.1:{port}/ui/incidents/INC-DEMO-1"
        assert f"incident: {page}" in output
        html = httpx.get(page, timeout=10)
        assert html.status_code == 200 and 'data-event-id="dep-checkout-prod"' in html.text

        # Ctrl-C stops everything, cleanly.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, reader.rest(10)
        assert reader.rest(10).rstrip().endswith("stopped")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
