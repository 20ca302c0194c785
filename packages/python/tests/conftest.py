from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_graph import FakeGraph  # noqa: E402

from graph_connector import Connector, bundled_component  # noqa: E402


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compiled-component cache for the session's shared connector."""
    return tmp_path_factory.mktemp("cache")


def with_custom_section(component: bytes, name: str, data: bytes) -> bytes:
    """`component` with a custom section appended (valid anywhere between sections)."""

    def leb128(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    payload = leb128(len(name.encode())) + name.encode() + data
    return component + b"\x00" + leb128(len(payload)) + payload


@pytest.fixture(scope="session")
def declaring_connector(cache_dir: Path) -> Connector:
    """The bundled component, declaring 127.0.0.1 (any port) as a host its connections
    may reach, as the Graph component declares the clouds' hosts."""
    return Connector(
        cache_dir=cache_dir,
        component=with_custom_section(bundled_component(), "connector-hosts", b"127.0.0.1\n"),
    )
