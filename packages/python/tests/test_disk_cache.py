"""The compiled component kept on disk: reused by the next process, never trusted blindly."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from graph_connector import Connector
from graph_connector._cache import MAGIC


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.cwasm"))


def component_entry(directory: Path) -> Path:
    """The connector's entry: the largest one (the other is the small outgoing gate)."""
    return max(entries(directory), key=lambda path: path.stat().st_size)


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled by a first connector, which found it through the environment;
    tests that damage an entry copy it first."""
    directory = tmp_path_factory.mktemp("filled") / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPH_CONNECTOR_CACHE_DIR", str(directory))
        assert Connector().cache_outcome == "compiled"
    return directory


def test_the_environment_names_the_default_directory(filled_cache: Path) -> None:
    assert len(entries(filled_cache)) == 2


def test_the_next_connector_deserializes_what_the_first_compiled(filled_cache: Path) -> None:
    second = Connector(cache_dir=filled_cache)

    assert second.cache_outcome == "deserialized"
    assert second.connect({"auth": "accessToken", "accessToken": "t"}).describe()["auth"] == "accessToken"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_cache_is_private_to_the_user(filled_cache: Path) -> None:
    assert stat.S_IMODE(filled_cache.stat().st_mode) == 0o700
    assert {stat.S_IMODE(entry.stat().st_mode) for entry in entries(filled_cache)} == {0o600}
    assert not list(filled_cache.glob(".entry-*")), "no temporary file is left behind"


@pytest.mark.parametrize("damage", ["flip a byte of the code", "truncate", "replace the header"])
def test_a_damaged_entry_is_compiled_again_and_replaced(filled_cache: Path, tmp_path: Path, damage: str) -> None:
    tmp_path = tmp_path / "cache"
    shutil.copytree(filled_cache, tmp_path)
    tmp_path.chmod(0o700)
    entry = component_entry(tmp_path)
    data = bytearray(entry.read_bytes())
    if damage == "flip a byte of the code":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        del data[len(data) // 2 :]
    else:
        data[: len(MAGIC)] = b"x" * len(MAGIC)
    entry.write_bytes(bytes(data))

    again = Connector(cache_dir=tmp_path)

    assert again.cache_outcome == "recompiled"
    assert again.connect({"auth": "accessToken", "accessToken": "t"}).list_actions()
    assert Connector(cache_dir=tmp_path).cache_outcome == "deserialized", "the entry was rewritten whole"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)

    connector = Connector(cache_dir=shared)

    assert connector.cache_outcome == "compiled"
    assert entries(shared) == []


def test_cache_dir_false_compiles_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_CONNECTOR_CACHE_DIR", str(tmp_path))
    assert Connector(cache_dir=False).cache_outcome == "compiled"
    assert entries(tmp_path) == []
