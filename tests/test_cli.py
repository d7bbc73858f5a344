"""End-to-end: the real `journeyctl` command in a subprocess, on real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EXAMPLE, REPO, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

TRACEBACK = "Traceback (most recent call last)"


def break_journey(root: Path) -> None:
    path = root / "journeys/welcome.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("on_timeout: send_nudge", "on_timeout: send_nuge")
    text = text.replace("value: event.amount", "value: event.amout")
    path.write_text(text, encoding="utf-8")


def test_example_project_is_valid() -> None:
    result = run_cli("validate", EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ project acme-shop is valid" in result.stdout
    assert "warning" not in result.stdout


def test_text_output_has_location_source_caret_and_hint(new_project: Path) -> None:
    break_journey(new_project)
    result = run_cli("validate", ".", cwd=new_project)
    assert result.returncode == 1
    out = result.stdout
    assert "journeys/welcome.yaml:17:58: error[JC203]: on_timeout of step 'wait_for_purchase' " \
           "names unknown step 'send_nuge'" in out
    assert " 17 |     wait_for: {event: purchase, timeout: 3d, on_timeout: send_nuge}" in out
    caret_line = out.splitlines()[out.splitlines().index(
        " 17 |     wait_for: {event: purchase, timeout: 3d, on_timeout: send_nuge}") + 1]
    assert caret_line == "    | " + " " * 57 + "^" * len("send_nuge")
    assert "= hint: did you mean 'send_nudge'?" in out
    assert "journeys/welcome.yaml:10:10: error[JC403]: event 'purchase' has no property 'amout'" \
        in out
    assert "✗ invalid: 2 errors, 0 warnings" in out
    assert TRACEBACK not in result.stdout + result.stderr


def test_json_output(new_project: Path) -> None:
    break_journey(new_project)
    result = run_cli("validate", new_project, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1 and report["valid"] is False
    assert report["errors"] == 2 and report["warnings"] == 0
    first = report["diagnostics"][0]
    assert first["code"] == "JC403" and first["line"] == 10 and first["column"] == 10
    assert first["file"].endswith("journeys/welcome.yaml")


def test_github_annotations(new_project: Path) -> None:
    break_journey(new_project)
    result = run_cli("validate", ".", "--format", "github", cwd=new_project)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert lines[1] == ("::error file=journeys/welcome.yaml,line=17,col=58,title=JC203::"
                        "on_timeout of step 'wait_for_purchase' names unknown step 'send_nuge'"
                        "%0Ahint: did you mean 'send_nudge'?")


def test_strict_fails_on_warnings(new_project: Path) -> None:
    (new_project / "templates/spare.yaml").write_text("channel: email\nsubject: a\ntext: b\n")
    assert run_cli("validate", new_project).returncode == 0
    strict = run_cli("validate", new_project, "--strict")
    assert strict.returncode == 1 and "JC608" in strict.stdout


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("validate", tmp_path / "nope")
    assert result.returncode == 1
    assert "error[JC001]" in result.stderr and "not found" in result.stderr
    assert "journeyctl init" in result.stderr
    assert TRACEBACK not in result.stderr


def test_subfolder_points_at_the_project(new_project: Path) -> None:
    result = run_cli("validate", new_project / "journeys")
    assert result.returncode == 1
    assert "the project is at" in result.stderr


def test_secret_is_never_echoed(new_project: Path) -> None:
    path = new_project / "channels.yaml"
    secret = "SG.very-secret-key-123"
    path.write_text(path.read_text().replace("env:SENDGRID_API_KEY", secret))
    for fmt in ("text", "json", "github"):
        result = run_cli("validate", new_project, "--format", fmt)
        assert result.returncode == 1 and "JC704" in result.stdout
        assert secret not in result.stdout + result.stderr


def test_init_scaffolds_a_valid_project(tmp_path: Path) -> None:
    target = tmp_path / "My Shop"
    result = run_cli("init", target)
    assert result.returncode == 0, result.stderr
    assert (target / "journeyctl.yaml").read_text().splitlines()[1] == "project: my-shop"
    assert (target / "schema/journey.schema.json").is_file()
    check = run_cli("validate", target)
    assert check.returncode == 0, check.stdout
    assert "✓ project my-shop is valid: 1 journeys" in check.stdout


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("init", tmp_path)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert not list(tmp_path.parent.glob(".journeyctl-init-*"))


@pytest.mark.parametrize("journey", sorted(p.stem for p in (EXAMPLE / "flows").glob("*.yaml")))
def test_graph_renders_every_example_journey(journey: str) -> None:
    mermaid = run_cli("graph", journey, "--project", EXAMPLE)
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart TD\n")
    text = (EXAMPLE / "flows" / f"{journey}.yaml").read_text(encoding="utf-8")
    step_ids = re.findall(r"^  - id: (\S+)", text, re.M)
    for step_id in step_ids:
        assert f"{step_id}<br/>" in mermaid.stdout
    dot = run_cli("graph", EXAMPLE / "flows" / f"{journey}.yaml", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith(f'digraph "{journey}" {{')
    assert all(f'"{step_id}" [label=' in dot.stdout for step_id in step_ids)


def test_graph_labels_edges(tmp_path: Path) -> None:
    out = tmp_path / "cart.mmd"
    result = run_cli("graph", "cart-abandonment", "-p", EXAMPLE, "-o", out)
    assert result.returncode == 0
    text = out.read_text(encoding="utf-8")
    assert '-->|"coupon 50%"|' in text and '-->|"control 50%"|' in text
    assert 'on add_to_cart where event.price #62;= 10000' in text


def test_graph_unknown_journey(new_project: Path) -> None:
    result = run_cli("graph", "nope", "-p", new_project)
    assert result.returncode == 1
    assert "no journey 'nope'" in result.stderr and "journeys: welcome" in result.stderr


def test_graph_refuses_an_invalid_journey(new_project: Path) -> None:
    break_journey(new_project)
    result = run_cli("graph", "journeys/welcome.yaml", cwd=new_project)
    assert result.returncode == 1 and "JC203" in result.stderr and result.stdout == ""


def test_internal_error_exit_3_with_logged_traceback(new_project: Path, tmp_path: Path) -> None:
    code = (
        "import sys, journeyctl.commands.validate as v\n"
        "def boom(*a, **k):\n    raise RuntimeError('kaboom')\n"
        "v.validate_here = boom\n"
        "from journeyctl.cli import main\n"
        f"sys.argv = ['journeyctl', 'validate', {str(new_project)!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"JOURNEYCTL_LOG_DIR": str(tmp_path), "PATH": ""}, cwd=REPO)
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "internal error (RuntimeError: kaboom)" in result.stderr
    assert TRACEBACK not in result.stderr
    logs = list(tmp_path.glob("journeyctl-crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: kaboom" in logs[0].read_text()


@pytest.mark.parametrize("command", ["validate", "init", "graph"])
def test_every_command_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 4


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and re.match(r"journeyctl \d+\.\d+\.\d+", result.stdout)


def test_usage_error_is_not_a_traceback() -> None:
    result = run_cli("validate", "--format", "xml")
    assert result.returncode == 2 and "Invalid value" in result.stderr
    assert TRACEBACK not in result.stderr
