"""Project files stay inside the project: in CI a pull request controls journeyctl.yaml and
every file below it, and a path or a link leading out must never make `validate`, `test` or
`plan` print what is there (the runner's environment, /etc/shadow). Seen from the pull
request: each way out is a located error, and the secret appears nowhere in the output."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from journeyctl.diagnostics import Loc, diagnostic
from journeyctl.diagnostics_render import print_text
from journeyctl.paths import files_below, named_problem, setting_problem
from tests.support import run_cli

SECRET = "SECRET_TOKEN=abc123"
RUNNER_SECRET = "runner-secret-7f3a9c"  # in the environment of the command: /proc/self/environ


def setting(project: Path, key: str, value: str) -> None:
    path = project / "journeyctl.yaml"
    text = path.read_text(encoding="utf-8")
    text, count = re.subn(rf"^{key}:.*$", f"{key}: {value}", text, flags=re.M)
    path.write_text(text if count else f"{text}{key}: {value}\n", encoding="utf-8")


def secret_file(tmp_path: Path) -> Path:
    """A file outside the project, as a runner's secrets are."""
    path = tmp_path / "outside" / "secret.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{SECRET}\n", encoding="utf-8")
    return path


def link(at: Path, target: Path) -> Path:
    at.unlink(missing_ok=True)
    at.symlink_to(target)
    return at


def absolute_events(project: Path, tmp_path: Path) -> str:
    setting(project, "events", "/proc/self/environ")
    return "proj/journeyctl.yaml:5:9: error[JC905]: `events:` names an absolute path"


def dotdot_events(project: Path, tmp_path: Path) -> str:
    secret_file(tmp_path)
    setting(project, "events", "../outside/secret.yaml")
    return "proj/journeyctl.yaml:5:9: error[JC905]: `events:` names ../outside/secret.yaml, " \
        "which leads out of the project folder"


def linked_template(project: Path, tmp_path: Path) -> str:
    link(project / "templates" / "welcome_email.yaml", secret_file(tmp_path))
    return "proj/templates/welcome_email.yaml:1:1: error[JC906]: a symbolic link to "


def linked_snippet(project: Path, tmp_path: Path) -> str:
    link(project / "snippets" / "footer.liquid", secret_file(tmp_path))
    return "proj/snippets/footer.liquid:1:1: error[JC906]"


def linked_journey_folder(project: Path, tmp_path: Path) -> str:
    link(project / "journeys" / "shared", secret_file(tmp_path).parent)
    return "proj/journeys/shared:1:1: error[JC906]"


def linked_templates_setting(project: Path, tmp_path: Path) -> str:
    link(project / "elsewhere", secret_file(tmp_path).parent)
    setting(project, "templates", "elsewhere/")
    return "proj/elsewhere:1:1: error[JC906]"


def linked_project_file(project: Path, tmp_path: Path) -> str:
    link(project / "journeyctl.yaml", secret_file(tmp_path))
    return "proj/journeyctl.yaml:1:1: error[JC906]"


def dotdot_tests(project: Path, tmp_path: Path) -> str:
    secret_file(tmp_path)
    setting(project, "tests", "../outside")
    return "proj/journeyctl.yaml:8:8: error[JC905]: `tests:` names ../outside, which leads out"


WAYS_OUT = [absolute_events, dotdot_events, linked_template, linked_snippet,
            linked_journey_folder, linked_templates_setting, linked_project_file, dotdot_tests]


@pytest.mark.parametrize("command", ["validate", "test", "plan"])
@pytest.mark.parametrize("way_out", WAYS_OUT, ids=lambda f: f.__name__)
@pytest.mark.e2e
def test_a_path_leading_out_of_the_project_is_an_error_that_shows_nothing_of_it(
        new_project: Path, tmp_path: Path, command: str, way_out) -> None:
    expected = way_out(new_project, tmp_path)
    result = run_cli(command, "proj", cwd=new_project.parent, env={"RUNNER_SECRET":
                                                                    RUNNER_SECRET})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert expected in output
    assert SECRET not in output and "abc123" not in output
    assert RUNNER_SECRET not in output
    assert "Traceback" not in output


@pytest.mark.e2e
def test_a_test_file_linking_out_is_a_broken_file_the_other_tests_still_run(
        new_project: Path, tmp_path: Path) -> None:
    link(new_project / "tests" / "evil.yaml", secret_file(tmp_path))
    for output_format in ("text", "json", "junit"):
        result = run_cli("test", "proj", "--format", output_format, cwd=new_project.parent)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "JC906" in output and "proj/tests/evil.yaml" in output
        assert "abc123" not in output
        if output_format == "text":
            assert re.search(r"\d+ passed, 0 failed, 1 file with errors", result.stdout)


@pytest.mark.parametrize("named", ["tests/welcome.yaml", "tests/shared/welcome.yaml"])
@pytest.mark.e2e
def test_a_test_file_named_inside_the_project_that_links_out_is_not_read(
        new_project: Path, tmp_path: Path, named: str) -> None:
    """`test --file` may name a file anywhere; but in CI the command line is fixed and the
    file is the pull request's: one named inside the project must not lead out of it."""
    secret = secret_file(tmp_path)
    (secret.parent / "welcome.yaml").write_text(f"{SECRET}\n", encoding="utf-8")
    link(new_project / "tests" / "welcome.yaml", secret)
    link(new_project / "tests" / "shared", secret.parent)
    result = run_cli("test", "proj", "--file", f"proj/{named}", cwd=new_project.parent)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    at = "proj/tests/welcome.yaml" if named == "tests/welcome.yaml" else "proj/tests/shared"
    assert f"{at}:1:1: error[JC906]" in output
    assert "abc123" not in output and "Traceback" not in output


@pytest.mark.e2e
def test_a_test_file_named_outside_the_project_is_read(new_project: Path,
                                                      tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text((new_project / "tests" / "welcome.yaml").read_text(encoding="utf-8"),
                         encoding="utf-8")
    result = run_cli("test", "proj", "--file", "elsewhere.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "elsewhere.yaml" in result.stdout


@pytest.mark.e2e
def test_links_and_dotdots_that_stay_inside_are_fine(new_project: Path) -> None:
    shared = new_project / "shared"
    shared.mkdir()
    (new_project / "events.yaml").rename(shared / "events.yaml")
    link(new_project / "catalog.yaml", Path("shared/events.yaml"))
    setting(new_project, "events", "journeys/../catalog.yaml")
    template = new_project / "templates" / "welcome_email.yaml"
    template.rename(shared / "welcome_email.yaml")
    link(template, Path("../shared/welcome_email.yaml"))
    result = run_cli("validate", new_project)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the core ------------------------------------------------------------------------------


def problem(root: Path, value: str) -> str | None:
    found = setting_problem(root, "events", value, Loc("journeyctl.yaml", 5, 9), "events.yaml")
    return found and f"{found.code} {found.message}"


def test_setting_problem(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "inner").mkdir(parents=True)
    link(root / "out", tmp_path)
    link(root / "inner" / "up", Path(".."))  # the project folder itself: inside
    assert problem(root, "events.yaml") is None
    assert problem(root, "inner/../events.yaml") is None
    assert problem(root, "inner/up/events.yaml") is None
    assert problem(root, "missing/file.yaml") is None  # not found is JC902's, later
    assert problem(root, "/etc/passwd") == ("JC905 `events:` names an absolute path, "
                                            "/etc/passwd: project files must be inside the "
                                            "project folder")
    assert problem(root, "inner/../../x.yaml") == (
        "JC905 `events:` names inner/../../x.yaml, which leads out of the project folder")
    assert problem(root, "out/secret.yaml") == (
        f"JC906 a symbolic link to {tmp_path}, outside the project folder: it is not read")
    assert problem(root, "out/proj/events.yaml") is None  # back inside: nothing outside read
    # `..` after a link is the link's parent, as the system reads it, not the project's.
    assert (problem(root, "out/../events.yaml") or "").startswith("JC906")


def test_named_problem(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "a.yaml").write_text("x: 1\n", encoding="utf-8")
    outside = secret_file(tmp_path)
    link(root / "tests" / "evil.yaml", outside)
    link(root / "out", outside.parent)
    assert named_problem(root, root / "tests" / "a.yaml") is None
    assert named_problem(root, outside) is None  # named outside: the caller's choice
    assert named_problem(root, root / "tests" / "../../outside/secret.yaml") is None
    evil = named_problem(root, root / "tests" / "evil.yaml")
    assert evil is not None and (evil.code, evil.message) == (
        "JC906", f"a symbolic link to {outside}, outside the project folder: it is not read")
    through = named_problem(root, root / "out" / "secret.yaml")
    assert through is not None and through.message.startswith(f"a symbolic link to {tmp_path}")
    assert through.loc.file.endswith("proj/out")
    # `..` after a link is the link's parent, as the system reads it: still refused, at the path
    odd = named_problem(root, root / "out" / ".." / "outside" / "secret.yaml")
    assert odd is not None and odd.message.startswith(f"leads through a symbolic link to "
                                                      f"{outside}")


def test_files_below_does_not_follow_links_out_and_names_them(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    folder = root / "templates"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.yaml").write_text("x: 1\n", encoding="utf-8")
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    outside = secret_file(tmp_path)
    link(folder / "evil.yaml", outside)
    link(folder / "evil.txt", outside)  # not a file that would be read: no matter
    link(folder / "dir", outside.parent)
    link(folder / "same.yaml", Path("sub/a.yaml"))
    link(folder / "inner", Path("sub"))  # a folder link inside: not searched (as rglob)
    files, out = files_below(root, folder, (".yaml",))
    assert files == [folder / "same.yaml", folder / "sub" / "a.yaml"]
    assert out == [folder / "dir", folder / "evil.yaml"]


def test_the_renderer_never_opens_the_file_a_jc906_is_located_at(tmp_path: Path) -> None:
    path = link(tmp_path / "evil.yaml", secret_file(tmp_path))
    stream = io.StringIO()
    print_text([diagnostic("JC906", "a link", Loc(os.path.relpath(path)))], {}, stream)
    assert "abc123" not in stream.getvalue()
    assert "JC906" in stream.getvalue()


@pytest.mark.parametrize("where", ["proj/data/e.csv", "data/e.csv"])
@pytest.mark.e2e
def test_an_input_file_that_links_out_is_not_read(new_project: Path, where: str) -> None:
    """`simulate --events` names a file of the pull request's too, inside the project or beside
    it in the checkout (the working folder): one that leads out through a link is refused
    before a line of it could be shown in an error (the runner's environment, here)."""
    repo = new_project.parent
    (repo / where).parent.mkdir(parents=True, exist_ok=True)
    link(repo / where, Path("/proc/self/environ"))
    result = run_cli("simulate", "proj", "--events", where, cwd=repo,
                     env={"RUNNER_SECRET": RUNNER_SECRET})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{where}:1:1: error[JC906]: a symbolic link to /proc/self/environ" in output
    assert RUNNER_SECRET not in output and "Traceback" not in output


@pytest.mark.e2e
def test_a_profile_file_that_links_out_is_not_sent(new_project: Path, tmp_path: Path) -> None:
    link(new_project / "me.json", tmp_path / "outside.json")
    (tmp_path / "outside.json").write_text('{"user_id": "x", "email": "' + SECRET + '"}',
                                           encoding="utf-8")
    result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                     "--profile", "me.json", "--base-url", "http://127.0.0.1:9",
                     cwd=new_project)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "me.json:1:1: error[JC906]" in output
    assert "abc123" not in output
