"""``moderation serve`` with the embedded defaults: what ``make run`` starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_serve_with_embedded_defaults_is_ready_and_stops_cleanly_on_ctrl_c(tmp_path):
    """``make run`` and Ctrl+C: SIGINT to the whole process group, as a terminal sends it.
    The workers stop (warm) before the embedded Redis, so nothing fails on its way out."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env |= {
        "MODERATION_VAR_DIR": str(tmp_path / "var"),
        "MODERATION_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a shell gives `make run`
    )
    try:
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        output = (tmp_path / "serve.log").read_text(errors="replace")
        assert ready is not None and ready.status_code == 200, output
        assert ready.json()["checks"]["redis"]["ok"]
        # Generated keys were printed and stored; the database was migrated under var/.
        keys = (tmp_path / "var" / "api-keys").read_text()
        publisher_key = keys.split("publisher:")[1].split(",")[0].strip()
        assert publisher_key in output
        assert (tmp_path / "var" / "moderation.db").exists()
        r = httpx.put(f"http://127.0.0.1:{port}/v1/articles/x", json={"title": "t", "body": "b"},
                      headers={"Authorization": f"Bearer {publisher_key}"})  # fmt: skip
        assert r.status_code == 201
        # Workers are separate processes whose command line reads "moderation worker".
        children = psutil.Process(proc.pid).children(recursive=True)
        cmdlines = [" ".join(c.cmdline()) for c in children]
        assert any(c.endswith("moderation worker") for c in cmdlines), cmdlines
        assert any(c.endswith("moderation worker --webhooks") for c in cmdlines), cmdlines
        assert any("redis-server" in c for c in cmdlines), cmdlines
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    output = (tmp_path / "serve.log").read_text(errors="replace")
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "ConnectionError" not in output and "Connection refused" not in output, output
    # Each worker had its warm shutdown, and Redis was stopped only after they all exited.
    assert output.count("warm shut down requested") == 2, output
    # Its log is JSON lines (stderr is a file, not a terminal), the last one saying it stopped.
    last = json.loads(output.rstrip().splitlines()[-1])
    assert (last["logger"], last["message"]) == ("moderation.serve", "stopped on SIGINT; exiting")
    stopped = output.index("workers and the embedded Redis stopped")
    assert output.rindex("unsubscribing from channel") < stopped, output
