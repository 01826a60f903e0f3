"""The storage layer: URIs, the listing rule (globs, hidden files), atomic publish and staged outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datapipe import io


@pytest.fixture
def tree(tmp_path):
    for rel in ["a/x.warc.gz", "a/y.warc.gz", "a/_SUCCESS", "a/.x.warc.gz.crc", "a/_rejects/part-0.parquet",
                "a/sub/z.warc.gz", "b/notes.txt", "b/.hidden/w.warc.gz", "c.json"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())
    return tmp_path


def names(entries, root) -> list[str]:
    return [os.path.relpath(io.local_path(e.uri), root) for e in entries]


def test_directories_are_listed_recursively_without_hidden_parts(tree):
    assert names(io.list_files([tree / "a"]), tree) == ["a/sub/z.warc.gz", "a/x.warc.gz", "a/y.warc.gz"]
    assert names(io.list_files([tree / "b"]), tree) == ["b/notes.txt"]
    # what a source asks to see (code has __init__.py): only dot-names hidden
    assert "a/_SUCCESS" in names(io.list_files([tree / "a"], hidden=(".",)), tree)


def test_globs_in_hadoop_syntax(tree):
    assert names(io.list_files([tree / "a" / "*.warc.gz"]), tree) == ["a/x.warc.gz", "a/y.warc.gz"]
    assert names(io.list_files([tree / "a" / "[x]*.gz"]), tree) == ["a/x.warc.gz"]
    assert names(io.list_files([tree / "{b,c.json}"]), tree) == ["b/notes.txt", "c.json"]
    assert names(io.list_files([tree / "*" / "?.warc.gz"]), tree) == ["a/x.warc.gz", "a/y.warc.gz"]
    entry = io.list_files([tree / "c.json"])[0]
    assert entry.uri == f"file:{tree / 'c.json'}" and entry.size == len(b"c.json") and entry.mtime_ns > 0


def test_a_pattern_that_matches_nothing_is_an_error(tree):
    with pytest.raises(FileNotFoundError, match="input not found"):
        io.list_files([tree / "a" / "*.arc"])
    with pytest.raises(FileNotFoundError):
        io.list_files([tree / "nope"])


def test_uris_are_qualified_and_hadoop_s3_names_map_to_pyarrow(tmp_path):
    assert io.qualify(str(tmp_path) + "/") == f"file:{tmp_path}"
    assert io.qualify(f"file://{tmp_path}") == f"file:{tmp_path}"
    assert io.qualify("s3a://bucket/key/") == "s3a://bucket/key"
    assert io.local_path(f"file:{tmp_path}/x") == f"{tmp_path}/x"
    assert io.is_local("relative/path") and not io.is_local("gs://b/k")


def test_publish_replaces_an_old_output_only_when_the_new_one_is_complete(tmp_path):
    out = tmp_path / "out"
    with io.staged_directory(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with io.staged_directory(out) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("killed")
    assert sorted(os.listdir(out)) == ["a"]  # the failed run left the old output and no temporaries
    with io.staged_directory(out) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(os.listdir(out)) == ["c"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_durable_publish_and_rename(tmp_path):
    tmp = tmp_path / io.temporary_sibling("x").rsplit("/", 1)[-1]
    tmp.mkdir()
    (tmp / "f").write_text("data")
    io.publish(str(tmp), str(tmp_path / "x"), durable=True)
    assert (tmp_path / "x" / "f").read_text() == "data" and not tmp.exists()
    io.write_text(f"file:{tmp_path}/deep/er/t.txt", "text")
    assert io.read_text(tmp_path / "deep" / "er" / "t.txt") == "text"
    io.delete(tmp_path / "deep")
    assert not io.exists(tmp_path / "deep")
    io.delete(tmp_path / "deep")  # deleting what is not there is not an error


def test_write_files_replaces_single_files(tmp_path):
    io.write_files(tmp_path / "o", {"a.md": "x", "b.png": b"\x89PNG"})
    io.write_files(tmp_path / "o", {"a.md": "y"})
    assert (tmp_path / "o" / "a.md").read_text() == "y" and (tmp_path / "o" / "b.png").read_bytes() == b"\x89PNG"
    assert sorted(os.listdir(tmp_path / "o")) == ["a.md", "b.png"]


# --- commit on object stores ---------------------------------------------------------------------------


@pytest.fixture
def object_store(monkeypatch):
    """Local directories committed as an object store's would be (no directory renames)."""
    monkeypatch.setattr(io, "renames_directories", lambda uri: False)
    renamed = []
    monkeypatch.setattr(io, "rename", lambda src, dst: renamed.append((src, dst)))
    return renamed


def _attempt(out: Path, text: str) -> str:
    tmp = io.temporary_sibling(str(out))
    assert tmp.startswith(f"{out}/_attempt-")
    io.write_text(io.join(tmp, "part-0.txt"), text)
    return tmp


def test_object_store_commit_writes_one_file_and_renames_nothing(tmp_path, object_store):
    out = tmp_path / "out"
    first = _attempt(out, "one")
    assert not io.exists(io.join(str(out), io.COMMIT_FILE))  # written, not committed: nothing to read
    io.publish(first, str(out))
    assert io.read_text(io.join(io.resolve(str(out)), "part-0.txt")) == "one"
    killed = _attempt(out, "killed")  # a writer that died before its commit
    second = _attempt(out, "two")
    io.publish(second, str(out), parts={"_rejects": io.join(second, "elsewhere")})
    assert io.read_text(io.join(io.resolve(str(out)), "part-0.txt")) == "two"
    assert io.resolve(str(out), "_rejects") == io.join(second, "elsewhere")
    assert not io.exists(first) and io.exists(killed)  # the replaced attempt goes; a stray one stays hidden
    assert object_store == [] and [f.uri for f in io.list_files([str(out)])] == []


def test_object_store_commit_replaces_an_output_written_by_renames(tmp_path, object_store):
    out = tmp_path / "out"
    (out / "_rejects").mkdir(parents=True)
    (out / "part-old.parquet").write_text("old")
    (out / "_SUCCESS").write_text("")
    assert io.resolve(str(out)) == str(out)  # an empty _SUCCESS: the directory itself
    tmp = _attempt(out, "new")
    io.publish(tmp, str(out))
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", Path(tmp).name]


def test_other_outputs_resolve_to_themselves(tmp_path):
    assert io.renames_directories(str(tmp_path)) and io.renames_directories("hdfs://nn/out")
    assert not io.renames_directories("s3a://bucket/out") and not io.renames_directories("gs://bucket/out")
    assert io.resolve(str(tmp_path)) == str(tmp_path) and io.resolve(str(tmp_path), "_rejects") == f"{tmp_path}/_rejects"
