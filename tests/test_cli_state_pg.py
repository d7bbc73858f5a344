"""End-to-end: the state commands on a real PostgreSQL server — every command as on SQLite,
JOURNEYCTL_STATE, passwords never shown, schemas shared in one database, two clones applying
at once, and the CI flow (a PR runner plans, a merge runner applies) on two git clones."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from journeyctl.scaffold import scaffold
from tests.support import journeyctl_command, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

GIT_ENV = {"GIT_AUTHOR_NAME": "Min Kim", "GIT_AUTHOR_EMAIL": "min@example.com",
           "GIT_COMMITTER_NAME": "Min Kim", "GIT_COMMITTER_EMAIL": "min@example.com"}
PASSWORD = "hunter2-Zq9"  # the server trusts local connections: libpq sends it, none checks it
ADD_STEP = ("  - id: send_nudge\n    send: {channel: email, template: nudge_email}\n",
            "  - id: send_nudge\n    send: {channel: email, template: nudge_email}\n"
            "  - id: pause\n    wait: 1d\n")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def edit(root: Path, old: str, new: str, file: str = "journeys/welcome.yaml") -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def with_schema(url: str, schema: str) -> str:
    return f"{url}?schema={schema}"


def with_password(url: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def serial(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'serial'").fetchone()
    assert row is not None
    return int(row[0])


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def hint_command(stderr: str, after: str) -> list[str]:
    """The command a hint gives after `after`, as words (it must work when pasted)."""
    line = next(line for line in stderr.splitlines() if after in line)
    words = shlex.split(line.split(after, 1)[1].strip())
    assert words[0] == "journeyctl", line
    return words[1:]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    scaffold(root, "shop")
    return root


def test_every_state_command_works_on_postgresql(project: Path, pg_url: str,
                                                 tmp_path: Path) -> None:
    url = with_schema(pg_url, "shop")
    state = ("--state", url)
    text = ok(run_cli("plan", project, *state))
    assert f"Plan for shop against {url} (serial 0), a new state:" in text.stdout
    assert "+ create journey welcome (v1)" in text.stdout
    as_json = json.loads(ok(run_cli("plan", project, *state, "--format", "json")).stdout)
    assert as_json["state"]["path"] == url and as_json["state"]["file"] == url
    markdown = ok(run_cli("plan", project, *state, "--format", "markdown")).stdout
    assert "**1** to create" in markdown and "+ + create journey welcome (v1)" in markdown

    saved = tmp_path / "plan.json"
    ok(run_cli("plan", project, *state, "--out", saved))
    applied = ok(run_cli("apply", saved))  # the plan names its state: no --state needed
    assert f"Applied: {url} is now at serial 1." in applied.stdout
    assert serial(pg_url, "shop") == 1
    stale = run_cli("apply", saved)
    assert stale.returncode == 1 and "error[JC966]" in stale.stderr
    assert f"journeyctl plan {project} --state '{url}' --out" in stale.stderr

    edit(project, *ADD_STEP)
    ok(run_cli("apply", project, *state, "--auto-approve"))
    status = json.loads(ok(run_cli("status", project, *state, "--format", "json")).stdout)
    assert status["serial"] == 2 and status["journeys"]["welcome"]["version"] == 2
    assert status["state"] == url and status["locked_by"] is None
    history = json.loads(ok(run_cli("history", "welcome", "-p", project, *state,
                                    "--format", "json")).stdout)
    assert [v["version"] for v in history["versions"]] == [1, 2]
    rolled = ok(run_cli("rollback", "welcome", "--to", "1", "-p", project, *state,
                        "--auto-approve"))
    assert "is now at serial 3" in rolled.stdout
    versions = json.loads(ok(run_cli("history", "welcome", "-p", project, *state,
                                     "--format", "json")).stdout)["versions"]
    assert versions[-1]["action"] == "rollback" and versions[-1]["hash"] == versions[0]["hash"]
    unlock = run_cli("force-unlock", "abc", "-p", project, *state)
    assert unlock.returncode == 1 and "no lock with id abc" in unlock.stderr
    assert "the state is not locked" in unlock.stderr
    # nothing went to a file: not the project's default state, not a file named after the URL
    assert not (project / ".journeyctl").exists()
    assert not list(tmp_path.rglob("postgresql:*")) and not list(Path.cwd().glob("postgresql:*"))


def test_a_missing_state_on_postgresql_is_named_with_a_command_that_creates_it(
        project: Path, pg_url: str) -> None:
    url = with_schema(pg_url, "fresh")
    for command in (("status", project), ("history", project)):
        missing = run_cli(*command, "--state", url)
        assert missing.returncode == 1 and "error[JC969]" in missing.stderr
        assert f"there is no state at {url} yet" in missing.stderr
        words = hint_command(missing.stderr, "apply the project to create it:")
        assert words == ["apply", str(project), "--state", url]
    serve = run_cli("serve", project, "--state", url, "--port", "0")
    assert serve.returncode == 1 and "error[JC980]" in serve.stderr
    assert f"nothing is applied to {url}" in serve.stderr
    ok(run_cli(*hint_command(serve.stderr, "apply first:"), "--auto-approve"))
    assert serial(pg_url, "fresh") == 1


def test_the_server_down_is_said_plainly(project: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/journeys"
    for command in (("plan", project), ("apply", project, "--auto-approve"),
                    ("status", project)):
        down = run_cli(*command, env={"JOURNEYCTL_STATE": url})
        assert down.returncode == 1, down.stderr
        assert (f"error[JC960]: cannot connect to the state postgresql://postgres:***@127.0.0.1:"
                f"{port}/journeys: connection refused") in down.stderr
        assert "is the server running" in down.stderr
        assert PASSWORD not in down.stdout + down.stderr and "Traceback" not in down.stderr


def test_a_user_without_rights_and_a_schema_of_other_tables_are_refused(
        project: Path, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS clerk")
        conn.execute("CREATE ROLE clerk LOGIN")
        conn.execute("CREATE SCHEMA shop")
        conn.execute("CREATE TABLE shop.orders (id int)")
    ok(run_cli("apply", project, "--auto-approve", "--state", with_schema(pg_url, "mine")))
    clerk = pg_url.replace("postgresql://postgres@", "postgresql://clerk@")
    for command in (("plan", project), ("apply", project, "--auto-approve")):
        refused = run_cli(*command, "--state", with_schema(clerk, "mine"))
        assert refused.returncode == 1 and "error[JC960]" in refused.stderr
        assert "refused it: permission denied for schema mine" in refused.stderr
        assert "GRANT USAGE ON SCHEMA mine" in refused.stderr
    first = run_cli("apply", project, "--auto-approve", "--state", with_schema(clerk, "new"))
    assert first.returncode == 1 and "refused it: permission denied for database" in first.stderr
    other = run_cli("apply", project, "--auto-approve", "--state", with_schema(pg_url, "shop"))
    assert other.returncode == 1
    assert "schema shop of" in other.stderr and "is not a journeyctl state: it has other " \
        "tables (orders)" in other.stderr
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE "
                              "table_schema = 'shop'").fetchall()
    assert tables == [("orders",)]  # nothing was written there


def test_journeyctl_state_chooses_the_state_after_the_option(project: Path, pg_url: str,
                                                             tmp_path: Path) -> None:
    env = {"JOURNEYCTL_STATE": with_schema(pg_url, "from_env")}
    missing = run_cli("status", project, env=env)
    assert missing.returncode == 1 and "error[JC969]" in missing.stderr
    # the hint leaves the variable's URL out (it is in the environment) and works when pasted
    words = hint_command(missing.stderr, "apply the project to create it:")
    assert words == ["apply", str(project)]
    ok(run_cli(*words, "--auto-approve", env=env))
    assert serial(pg_url, "from_env") == 1
    assert not (project / ".journeyctl").exists()  # not the project's state: the variable's
    # --state wins over the variable
    ok(run_cli("apply", project, "--auto-approve", "--state", "sqlite:///s.db", env=env))
    assert (project / "s.db").is_file() and serial(pg_url, "from_env") == 1
    # the variable wins over state: in journeyctl.yaml
    yaml = project / "journeyctl.yaml"
    yaml.write_text(yaml.read_text().replace("sqlite:///.journeyctl/state.db",
                                             with_schema(pg_url, "from_file")))
    status = json.loads(ok(run_cli("status", project, "--format", "json", env=env)).stdout)
    assert status["state"] == with_schema(pg_url, "from_env")
    ok(run_cli("apply", project, "--auto-approve"))  # without it: state: in the file
    assert serial(pg_url, "from_file") == 1

    bad = run_cli("plan", project, env={"JOURNEYCTL_STATE": "mysql://x"})
    assert bad.returncode == 1 and "JOURNEYCTL_STATE: error[JC967]" in bad.stderr
    assert "postgresql://user@host:5432/database" in bad.stderr
    secret = run_cli("plan", project, env={"JOURNEYCTL_STATE": PASSWORD})  # set by mistake
    assert "JOURNEYCTL_STATE: error[JC967]: JOURNEYCTL_STATE is not a state URL" in secret.stderr
    assert PASSWORD not in secret.stderr
    unset = run_cli("plan", project, env={"JOURNEYCTL_STATE": with_schema(
        pg_url.replace("postgres@", "postgres:env:NO_SUCH_VARIABLE@"), "x")})
    assert "JOURNEYCTL_STATE: error[JC967]" in unset.stderr
    assert "reads its password from $NO_SUCH_VARIABLE, which is not set" in unset.stderr


def test_no_password_is_ever_shown_or_saved(project: Path, pg_url: str,
                                            tmp_path: Path) -> None:
    """A password given by JOURNEYCTL_STATE, or by env:NAME in --state or state:, is in no
    output, no error, no hint and no saved plan."""
    said: list[str] = []

    def run(*args: str | Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        done = run_cli(*args, env={"PG_SECRET": PASSWORD, **(env or {})})
        said.append(done.stdout + done.stderr)
        return done

    from_env = {"JOURNEYCTL_STATE": with_password(with_schema(pg_url, "a"), PASSWORD)}
    saved = tmp_path / "plan.json"
    ok(run("plan", project, "--out", saved, env=from_env))
    ok(run("plan", project, "--format", "json", env=from_env))
    ok(run("plan", project, "--format", "markdown", env=from_env))
    plan = json.loads(saved.read_text())
    assert plan["state"]["file"] == with_schema(pg_url, "a") and plan["state"]["url"] is None
    assert plan["state"]["path"] == with_password(with_schema(pg_url, "a"), "***")
    ok(run("apply", saved, env=from_env))
    ok(run("status", project, env=from_env))
    ok(run("history", project, env=from_env))
    stale = run("apply", saved, env=from_env)
    assert stale.returncode == 1 and "error[JC966]" in stale.stderr
    assert run("force-unlock", "nope", "-p", project, env=from_env).returncode == 1
    edit(project, *ADD_STEP)
    ok(run("plan", project, "--out", saved, env=from_env))  # against the state at serial 1
    elsewhere = run("apply", saved, "--state", with_schema(pg_url, "b"), env=from_env)
    assert elsewhere.returncode == 1 and "error[JC965]" in elsewhere.stderr
    assert f"env -u JOURNEYCTL_STATE journeyctl apply {saved};" in elsewhere.stderr
    pasted = subprocess.run(f"env -u JOURNEYCTL_STATE journeyctl apply {saved}", shell=True,
                            env={**os.environ, **from_env, "PGPASSWORD": PASSWORD},
                            capture_output=True, text=True)
    said.append(pasted.stdout + pasted.stderr)
    assert pasted.returncode == 0 and "is now at serial 2" in pasted.stdout, pasted.stderr

    by_name = with_schema(pg_url.replace("postgres@", "postgres:env:PG_SECRET@"), "c")
    ok(run("plan", project, "--state", by_name, "--out", saved))
    assert json.loads(saved.read_text())["state"]["url"] == by_name  # names no secret
    ok(run("apply", saved))  # reads the password from PG_SECRET again
    ok(run("status", project, "--state", by_name))
    yaml = project / "journeyctl.yaml"
    text = yaml.read_text()
    yaml.write_text(text.replace("sqlite:///.journeyctl/state.db", by_name))
    ok(run("status", project))
    yaml.write_text(text.replace("sqlite:///.journeyctl/state.db",
                                 with_password(with_schema(pg_url, "c"), PASSWORD)))
    written = run("plan", project)
    assert written.returncode == 1 and "journeyctl.yaml:9:8: error[JC967]" in written.stderr
    assert "holds a password" in written.stderr and "PGPASSWORD" in written.stderr
    on_command_line = run("plan", project, "--state",
                          with_password(with_schema(pg_url, "c"), PASSWORD))
    assert "--state: error[JC967]" in on_command_line.stderr
    leaked = [output for output in said if PASSWORD in output]
    assert leaked == [] and PASSWORD not in saved.read_text()


def test_two_projects_share_a_database_in_two_schemas(tmp_path: Path, pg_url: str) -> None:
    """Each project's journeyctl.yaml names its schema of the one database."""
    shop, blog = tmp_path / "shop", tmp_path / "blog"
    for root in (shop, blog):
        scaffold(root, root.name)
        name_state(root, with_schema(pg_url, root.name))
        ok(run_cli("validate", root))
        ok(run_cli("apply", root, "--auto-approve"))
    edit(shop, *ADD_STEP)
    ok(run_cli("apply", shop, "--auto-approve"))
    assert (serial(pg_url, "shop"), serial(pg_url, "blog")) == (2, 1)
    blog_plan = ok(run_cli("plan", blog, "--detailed-exitcode"))
    assert "No changes" in blog_plan.stdout
    shop_history = json.loads(ok(run_cli("history", shop, "--format", "json")).stdout)
    assert [v["version"] for v in shop_history["versions"]] == [1, 2]
    assert not (shop / ".journeyctl").exists() and not (blog / ".journeyctl").exists()
    crossed = run_cli("plan", blog, "--state", with_schema(pg_url, "shop"))
    assert crossed.returncode == 1 and "error[JC965]" in crossed.stderr
    assert "belongs to project 'shop', not 'blog'" in crossed.stderr


class Prompted:
    """`journeyctl apply` asking its question on a terminal (a pty), so that it holds the
    state lock until it is answered or killed."""

    def __init__(self, *args: str | Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [*journeyctl_command(), *map(str, args)], stdin=slave, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})})
        os.close(slave)
        self.out = b""

    def wait_for(self, text: str, deadline: float = 60) -> None:
        assert self.process.stdout is not None
        end = time.monotonic() + deadline
        while text.encode() not in self.out:
            assert time.monotonic() < end, self.out
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 4096)
                assert chunk or self.process.poll() is None, self.out
                self.out += chunk

    def answer(self, text: str) -> subprocess.CompletedProcess[str]:
        os.write(self.master, text.encode() + b"\n")
        out, err = self.process.communicate(timeout=60)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode,
                                           (self.out + out).decode(), err.decode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()  # reaps it, and closes its pipes
        os.close(self.master)


@pytest.fixture
def prompted() -> Iterator[list[Prompted]]:
    started: list[Prompted] = []
    yield started
    for one in started:
        one.close()


def name_state(root: Path, url: str) -> None:
    """`state: URL` in the project's journeyctl.yaml."""
    yaml = root / "journeyctl.yaml"
    text = yaml.read_text()
    assert "state: sqlite:///.journeyctl/state.db" in text
    yaml.write_text(text.replace("sqlite:///.journeyctl/state.db", url))


def _clones(tmp_path: Path, url: str | None = None) -> tuple[Path, Path]:
    """Two copies of one project; `url`: the state their journeyctl.yaml names."""
    first = tmp_path / "laptop" / "shop"
    scaffold(first, "shop")
    if url is not None:
        name_state(first, url)
    second = tmp_path / "desktop" / "shop"
    shutil.copytree(first, second)
    return first, second


def test_an_interactive_apply_holds_the_lock_and_a_second_clone_waits_or_fails(
        tmp_path: Path, pg_url: str, prompted: list[Prompted]) -> None:
    env = {"JOURNEYCTL_STATE": with_schema(pg_url, "shop")}
    first, second = _clones(tmp_path)
    asking = Prompted("apply", first, env=env)
    prompted.append(asking)
    asking.wait_for("Only 'yes' applies")
    status = json.loads(ok(run_cli("status", second, "--format", "json", env=env)).stdout)
    assert status["locked_by"]["operation"] == "apply"
    busy = run_cli("apply", second, "--auto-approve", "--lock-timeout", "1s", env=env)
    assert busy.returncode == 1 and "error[JC962]: the state is locked by" in busy.stderr
    assert f"pid {asking.process.pid}" in busy.stderr and "waited 1s" in busy.stderr

    started = _server_now(pg_url)
    waiting = subprocess.Popen([*journeyctl_command(), "apply", str(second), "--auto-approve",
                                "--lock-timeout", "60s"], env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_lock_waiter(pg_url, started)
    done = asking.answer("yes")
    assert done.returncode == 0 and "is now at serial 1" in done.stdout, done.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err  # it waited, then planned against serial 1
    assert "No changes" in out
    assert serial(pg_url, "shop") == 1


def _server_now(url: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _wait_for_lock_waiter(url: str, since: object) -> None:
    """Until a journeyctl session opened after `since` is trying for the lock."""
    end = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'journeyctl' "
                "AND backend_start > %s AND query LIKE '%%lock%%'", [since]).fetchone()
            if row and row[0]:
                return
            assert time.monotonic() < end, "the second apply never tried for the lock"
            time.sleep(0.05)


def test_a_killed_holder_leaves_no_lock(tmp_path: Path, pg_url: str,
                                        prompted: list[Prompted]) -> None:
    env = {"JOURNEYCTL_STATE": with_schema(pg_url, "shop")}
    first, second = _clones(tmp_path)
    asking = Prompted("apply", first, env=env)
    prompted.append(asking)
    asking.wait_for("Only 'yes' applies")
    os.kill(asking.process.pid, signal.SIGKILL)
    asking.process.wait()
    # its session ends with it, and with the session its advisory lock: no force-unlock
    applied = ok(run_cli("apply", second, "--auto-approve", "--lock-timeout", "30s", env=env))
    assert "is now at serial 1" in applied.stdout and serial(pg_url, "shop") == 1
    status = json.loads(ok(run_cli("status", second, "--format", "json", env=env)).stdout)
    assert status["locked_by"] is None


def test_force_unlock_ends_a_hung_holder(tmp_path: Path, pg_url: str,
                                         prompted: list[Prompted]) -> None:
    """The clones' journeyctl.yaml names the shared state."""
    url = with_schema(pg_url, "shop")
    first, second = _clones(tmp_path, url)
    hung = Prompted("apply", first)
    prompted.append(hung)
    hung.wait_for("Only 'yes' applies")
    busy = run_cli("apply", second, "--auto-approve", "--lock-timeout", "1s")
    assert busy.returncode == 1 and "error[JC962]" in busy.stderr
    words = hint_command(busy.stderr, "if that process is gone for good:")
    assert words[0] == "force-unlock" and words[2:] == ["--project", str(second)]
    unlocked = ok(run_cli(*words))
    assert f"Unlocked {url}: removed the lock of" in unlocked.stdout
    assert f"pid {hung.process.pid}" in unlocked.stdout
    ok(run_cli("apply", second, "--auto-approve", "--lock-timeout", "0s"))
    late = hung.answer("yes")  # its session was ended: its apply cannot happen any more
    assert late.returncode == 1 and "error[JC960]" in late.stderr, late.stdout + late.stderr
    assert "broke while this command held the state's lock" in late.stderr
    assert serial(pg_url, "shop") == 1


def test_ci_flow_a_pr_runner_plans_and_a_merge_runner_applies(tmp_path: Path,
                                                               pg_url: str) -> None:
    """Two runners, each with its own clone of the journeys repository, share the state
    through JOURNEYCTL_STATE (a secret holding the URL, password included)."""
    origin = tmp_path / "origin"
    scaffold(origin, "shop")
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "first journeys")
    pr_runner, merge_runner = tmp_path / "pr-runner", tmp_path / "merge-runner"
    env = {"JOURNEYCTL_STATE": with_password(with_schema(pg_url, "shop"), PASSWORD)}

    def pull_request(branch: str) -> tuple[str, Path]:
        """On the PR runner: a fresh clone of the branch; the comment, and the saved plan."""
        shutil.rmtree(pr_runner, ignore_errors=True)
        git(tmp_path, "clone", "-q", "-b", branch, str(origin), str(pr_runner))
        markdown = ok(run_cli("plan", "--format", "markdown", cwd=pr_runner, env=env)).stdout
        ok(run_cli("plan", "--out", "plan.json", cwd=pr_runner, env=env))
        artifact = tmp_path / f"{branch}.plan.json"
        shutil.copy(pr_runner / "plan.json", artifact)
        return markdown, artifact

    def branch(name: str, change: tuple[str, str], file: str = "journeys/welcome.yaml") -> None:
        git(origin, "checkout", "-q", "-b", name, "main")
        edit(origin, *change, file=file)
        git(origin, "commit", "-qam", name)
        git(origin, "checkout", "-q", "main")

    def merge(name: str) -> None:
        git(origin, "merge", "-q", "--no-ff", "-m", f"merge {name}", name)

    # the first PR is the whole project: everything is created
    comment, artifact = pull_request("main")
    assert "**1** to create" in comment and "(state serial 0)" in comment
    git(tmp_path, "clone", "-q", str(origin), str(merge_runner))
    applied = ok(run_cli("apply", artifact, cwd=merge_runner, env=env))
    assert "is now at serial 1" in applied.stdout

    # a second PR, planned on a fresh runner: only its change, nothing "create"d again
    branch("longer-wait", ("timeout: 3d", "timeout: 4d"))
    branch("nudge", ADD_STEP)
    comment, artifact = pull_request("longer-wait")
    assert "**0** to create, **1** to update" in comment and "(state serial 1)" in comment
    assert "~ update journey welcome (v1 → v2)" in comment and "create journey" not in comment
    _, other = pull_request("nudge")
    merge("longer-wait")
    git(merge_runner, "pull", "-q")
    applied = ok(run_cli("apply", artifact, cwd=merge_runner, env=env))
    assert "is now at serial 2" in applied.stdout
    # the other PR's plan was made at serial 1: stale after the merge, refused
    merge("nudge")
    git(merge_runner, "pull", "-q")
    stale = run_cli("apply", other, cwd=merge_runner, env=env)
    assert stale.returncode == 1 and "error[JC966]" in stale.stderr
    assert PASSWORD not in stale.stderr
    # so the merge runner plans again on main, and applies that plan
    ok(run_cli("plan", "--out", "plan.json", cwd=merge_runner, env=env))
    ok(run_cli("apply", "plan.json", cwd=merge_runner, env=env))
    history = json.loads(ok(run_cli("history", "welcome", "--format", "json",
                                    cwd=merge_runner, env=env)).stdout)["versions"]
    assert [v["version"] for v in history] == [1, 2, 3]
    assert history[-1]["commit"] == git(merge_runner, "rev-parse", "HEAD")
    assert not history[-1]["dirty"]  # plan.json in the clone is no file the project reads
