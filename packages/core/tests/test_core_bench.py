import subprocess

from dltheory.core.bench import git_commit


def _git(folder, *args):
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=True).stdout


def test_git_commit_names_the_head_and_marks_a_dirty_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no checkout above tmp_path
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git_commit(repo) is None
    _git(repo, "init", "-q")
    (repo / "a.txt").write_text("1\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "--short", "HEAD").strip()
    assert git_commit(repo) == head
    (repo / "b.txt").write_text("untracked files do not count\n")
    assert git_commit(repo) == head
    (repo / "a.txt").write_text("2\n")
    assert git_commit(repo) == head + "+dirty"


def test_git_commit_outside_a_checkout_or_folder_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_commit(tmp_path) is None
    assert git_commit(tmp_path / "absent") is None  # git cannot even start there
