"""Rendering diagnostics: a place in a file, or a command-line option (no line or column)."""

from __future__ import annotations

import io
import json

from journeyctl.diagnostics import Loc, diagnostic, option
from journeyctl.diagnostics_render import print_text, to_github, to_json

IN_FILE = diagnostic("JC403", "unknown step 'send_nuge'", Loc("journeys/welcome.yaml", 10, 10),
                     "did you mean 'send_nudge'?")
ON_OPTION = diagnostic("JC982", "cannot listen on 127.0.0.1:8787: Address already in use",
                       option("--port"), "choose another --port")


def test_text_names_the_option_without_a_position() -> None:
    stream = io.StringIO()
    print_text([IN_FILE, ON_OPTION], {}, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "journeys/welcome.yaml:10:10: error[JC403]: unknown step 'send_nuge'"
    assert "--port: error[JC982]: cannot listen on 127.0.0.1:8787: Address already in use" in lines
    assert not any(line.startswith("--port:0") for line in lines)


def test_json_gives_no_line_or_column_for_an_option() -> None:
    found = json.loads(to_json([IN_FILE, ON_OPTION]))["diagnostics"]
    assert (found[0]["line"], found[0]["column"]) == (10, 10)
    assert (found[1]["file"], found[1]["line"], found[1]["column"]) == ("--port", None, None)


def test_github_annotates_files_only() -> None:
    in_file, on_option = to_github([IN_FILE, ON_OPTION]).splitlines()
    assert in_file.startswith("::error file=journeys/welcome.yaml,line=10,col=10,title=JC403::")
    assert on_option.startswith("::error title=JC982::cannot listen")
