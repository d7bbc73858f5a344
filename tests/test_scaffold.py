"""`scaffold` is all or nothing: whatever stops it — a full disk, Ctrl-C in the middle of moving
the files into an existing folder — leaves the folder as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from journeyctl.scaffold import scaffold

_RENAME = Path.rename


def stop_at(count: int, after: bool, error: BaseException) -> Callable[[Path, Path], Path]:
    """A `Path.rename` that raises `error` at its `count`th call, before or after moving."""
    calls = {"n": 0}

    def rename(self: Path, target: Path) -> Path:
        calls["n"] += 1
        if calls["n"] == count and not after:
            raise error
        moved = _RENAME(self, target)
        if calls["n"] == count:
            raise error
        return moved

    return rename


def git_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(28, "No space left")])
@pytest.mark.parametrize(("count", "after"), [(1, False), (3, False), (3, True), (9, True)])
def test_an_existing_folder_is_left_as_it_was_whatever_stops_the_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, after: bool,
        error: BaseException) -> None:
    folder = git_folder(tmp_path)
    monkeypatch.setattr(Path, "rename", stop_at(count, after, error))
    with pytest.raises(type(error)):
        scaffold(folder, "shop")
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == [".git"]
    assert (folder / ".git" / "HEAD").read_text(encoding="utf-8") == "ref: refs/heads/main\n"


def test_a_new_folder_is_one_rename_and_ctrl_c_before_it_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deep" / "shop"
    monkeypatch.setattr(Path, "rename", stop_at(1, False, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        scaffold(target, "shop")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # not even the folder made for it
    calls: list[Path] = []

    def rename(self: Path, to: Path) -> Path:
        calls.append(to)
        return _RENAME(self, to)

    monkeypatch.setattr(Path, "rename", rename)
    scaffold(target, "shop")
    assert calls == [target] and (target / "journeyctl.yaml").is_file()
