"""The README's program, run as written against the fake Graph."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fake_graph import FakeGraph

from graph_connector import Connector

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_program() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), flags=re.S)
    assert len(blocks) == 1, "the README shows one program"
    return blocks[0]


def test_the_readme_program_is_five_lines() -> None:
    assert len(readme_program().strip().splitlines()) == 5


def test_the_readme_program_lists_actions_and_gets_a_user(graph: FakeGraph, cache_dir: Path) -> None:
    graph.answer("GET", "/v1.0/users/adele@contoso.com", body={"id": "1", "displayName": "Adele Vance"})
    config = {"auth": "accessToken", "accessToken": "readme-token", "graphBaseUrl": f"{graph.base}/v1.0"}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GRAPH_CONFIG": json.dumps(config),
        "GRAPH_ALLOW_HOSTS": graph.authority,
        "GRAPH_CONNECTOR_CACHE_DIR": str(cache_dir),
    }

    run = subprocess.run([sys.executable, "-c", readme_program()], env=env, capture_output=True, text=True, timeout=120)

    actions = len(Connector.open({"auth": "accessToken", "accessToken": "t"}, cache_dir=cache_dir).list_actions())
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{actions} actions\nAdele Vance\n"
    assert [(r.method, r.path, r.headers["authorization"]) for r in graph.requests] == [
        ("GET", "/v1.0/users/adele@contoso.com", "Bearer readme-token")
    ]


def test_the_readme_program_without_allowed_hosts_is_refused(graph: FakeGraph, cache_dir: Path) -> None:
    config = {"auth": "accessToken", "accessToken": "readme-token", "graphBaseUrl": f"{graph.base}/v1.0"}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GRAPH_CONFIG": json.dumps(config),
        "GRAPH_CONNECTOR_CACHE_DIR": str(cache_dir),
    }

    run = subprocess.run([sys.executable, "-c", readme_program()], env=env, capture_output=True, text=True, timeout=120)

    assert run.returncode == 1
    assert "graph_connector.ConnectorError: transport:" in run.stderr
    assert "HTTP-request-denied" in run.stderr
    assert graph.requests == []
