"""``moderation serve`` with the embedded defaults: what ``make run`` starts."""

from __future__ import annotations

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


def test_serve_with_embedded_defaults_is_ready_and_stops_cleanly(tmp_path):
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
        assert any("moderation worker" in c for c in cmdlines), cmdlines
        assert any("redis-server" in c for c in cmdlines), cmdlines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
