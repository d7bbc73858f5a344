"""A real, throwaway PostgreSQL server for tests and benchmarks: Debian's `initdb` and `pg_ctl`
in a temporary folder. They refuse to run as root, so as root the cluster belongs to the
`postgres` user (`runuser`). `.ci/run` installs the package when it is missing; outside CI a
machine without it skips the PostgreSQL tests (`available()`), in CI they fail instead."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"
_names = itertools.count()


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's versioned folder."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """initdb'd in a temporary folder; `start()`, `stop()` (fast shutdown), `kill()` (an
    immediate stop: no checkpoint, clients cut off, as if the server crashed)."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        folder = binaries()
        if folder is None:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed "
                               "(apt-get install postgresql)")
        self.bin = folder
        self.root = Path(tempfile.mkdtemp(prefix="journeyctl-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.settings = {"fsync": "off", "max_connections": "200",
                         "listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.root),
                         **(settings or {})}
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, SUPERUSER)
            os.chmod(self.root, 0o755)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                  "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.root)

    def start(self) -> None:
        options = " ".join(f"-c {key}={value}" for key, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-o", f"-p {self.port} {options}",
                  "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = SUPERUSER, schema: str | None = None) -> str:
        query = f"?schema={schema}" if schema else ""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}{query}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return binaries() is not None


def require() -> None:
    """Go on only where PostgreSQL is installed: skip outside CI without it (a missing
    optional tool); in CI (`CI` set, as `.ci/run` does) fail, since CI installs it."""
    import pytest

    if available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is not installed: .ci/run installs it (apt-get install "
                    "postgresql)")
    pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
