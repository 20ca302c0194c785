"""The compiled component, kept on disk between processes.

Compiling the component with Cranelift is by far the slowest step of opening a
connection; loading a compiled copy is cheap. Wasmtime's `deserialize` trusts its input completely (it maps the bytes as
machine code), so an entry is only ever read from a directory this user owns and no one
else can write to, is written atomically, and carries a SHA-256 of its bytes that is
checked before Wasmtime sees them: a truncated or altered entry is compiled again and
replaced, never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Optional, Union

import wasmtime
from wasmtime import component as wasm_component

log = logging.getLogger("graph_connector")

#: The first line of every entry; bump it when the entry layout changes.
MAGIC = b"graph-connector compiled component v1\n"
#: Environment variable naming the cache directory when the caller passes none.
CACHE_DIR_ENV = "GRAPH_CONNECTOR_CACHE_DIR"


def default_cache_dir() -> Path:
    """The per-user cache directory of the platform, with a `graph-connector` folder."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "graph-connector"


def wasmtime_version() -> str:
    """The installed wasmtime-py version: compiled code is only valid for the same one."""
    return importlib.metadata.version("wasmtime")


class ComponentCache:
    """Compiled components on disk, keyed by the component's SHA-256, the wasmtime
    version and the engine settings the package compiles with."""

    def __init__(self, directory: Union[str, os.PathLike[str]], engine_settings: str) -> None:
        self.directory = Path(directory)
        self.engine_settings = engine_settings
        #: What the last `load` did: `compiled`, `deserialized` or `recompiled` (the entry
        #: was unusable), for tests and diagnostics.
        self.last_outcome: Optional[str] = None

    def entry_path(self, wasm: bytes) -> Path:
        """Where the compiled form of `wasm` is kept."""
        digest = hashlib.sha256(wasm).hexdigest()
        return self.directory / f"{digest}-wasmtime-{wasmtime_version()}-{self.engine_settings}.cwasm"

    def load(self, engine: wasmtime.Engine, wasm: bytes) -> wasm_component.Component:
        """The compiled component: from the cache when a sound entry exists, else
        compiled now and stored."""
        path = self.entry_path(wasm)
        if not self._directory_is_private():
            self.last_outcome = "compiled"
            return wasm_component.Component(engine, wasm)
        payload = self._read_entry(path)
        damaged = payload is None and path.exists()
        if damaged:
            log.info("compiled component cache entry %s is damaged; compiling again", path)
            _remove_quietly(path)
        if payload is not None:
            try:
                loaded = wasm_component.Component.deserialize(engine, payload)
                self.last_outcome = "deserialized"
                return loaded
            except wasmtime.WasmtimeError as error:
                # Sound bytes Wasmtime refuses (another build of the same version, other
                # CPU features): compile again and replace them.
                log.info("compiled component cache entry %s refused by wasmtime: %s", path, error)
            self.last_outcome = "recompiled"
        else:
            self.last_outcome = "recompiled" if damaged else "compiled"
        compiled = wasm_component.Component(engine, wasm)
        self._write_entry(path, bytes(compiled.serialize()))
        return compiled

    def _directory_is_private(self) -> bool:
        """Creates the directory (mode 0700) and checks that only this user can write it."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.name != "posix":
                return True
            info = self.directory.stat()
        except OSError as error:
            log.info("compiled component cache %s unusable: %s", self.directory, error)
            return False
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning(
                "compiled component cache %s is not private to this user; compiling in memory",
                self.directory,
            )
            return False
        return True

    def _read_entry(self, path: Path) -> Optional[bytes]:
        """The entry's compiled bytes when it exists and its digest matches, else None."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.info("compiled component cache entry %s unreadable: %s", path, error)
            return None
        header_end = len(MAGIC) + 65
        if data[: len(MAGIC)] == MAGIC and len(data) > header_end and data[header_end - 1 : header_end] == b"\n":
            digest = data[len(MAGIC) : header_end - 1].decode("ascii", "replace")
            payload = data[header_end:]
            if hashlib.sha256(payload).hexdigest() == digest:
                return payload
        return None

    def _write_entry(self, path: Path, payload: bytes) -> None:
        """Writes the entry to a private temporary file, then renames it into place, so a
        reader never sees half an entry."""
        digest = hashlib.sha256(payload).hexdigest().encode("ascii")
        try:
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".entry-", suffix=".tmp")
        except OSError as error:
            log.info("compiled component cache %s not writable: %s", self.directory, error)
            return
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(MAGIC + digest + b"\n" + payload)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except OSError as error:
            log.info("compiled component cache entry %s not written: %s", path, error)
            _remove_quietly(Path(temporary))


class NoCache:
    """Compiles every time (the caller passed `cache_dir=False`)."""

    last_outcome: Optional[str] = None

    def load(self, engine: wasmtime.Engine, wasm: bytes) -> wasm_component.Component:
        self.last_outcome = "compiled"
        return wasm_component.Component(engine, wasm)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
