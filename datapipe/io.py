"""Where data lives: the one storage layer of every program (Spark driver and executors, the chain, the
tokenizer, the quality model, the trainer).

**URIs.** A local path (relative or absolute), ``file:`` URIs, and whatever pyarrow's file systems open:
``s3://`` (Hadoop's ``s3a://`` and ``s3n://`` are read as ``s3://``, so the URI Spark writes is the URI
read here), ``gs://``, ``hdfs://``, ``abfs://``. ``qualify`` gives the form stages record: ``file:/abs/path``
for local files (Spark's spelling), other URIs as given, without a trailing slash.

**Listing rule.** ``list_files`` expands paths, directories (recursively) and Hadoop-style globs (``*``,
``?``, ``[ab]``, ``{x,y}``); below a listed directory, a file is hidden when any part of its path there
starts with ``.`` or ``_`` (checksums, ``_SUCCESS``, ``_rejects/``, temporaries), as Spark's readers see it.

**Atomic publish.** An output appears whole or not at all: it is written under ``OUT._tmp-*`` and
``publish`` swaps it into place (an old output is moved aside first and removed only once the new one is
in place), so a killed program leaves a ``._tmp-*`` directory, never a complete-looking output; the
next publish of that output removes it (``remove_leftovers``: one writer per output at a time).
On an object store (``s3``, ``gs``, ``abfs``, ...) a directory rename is a copy of every byte and not
atomic, so nothing is renamed there: the output is written under ``OUT/_attempt-*/`` and ``publish``
commits it by writing the one small file ``OUT/_SUCCESS`` (``{"committed": "_attempt-.../..."}``; a
single PUT, atomic for readers), then removes the attempt it replaced. Readers open an output through
``resolve``, which follows that file (and is the identity for every other output); an attempt a killed
writer left behind is hidden (``_``) and named by no ``_SUCCESS``.
``staged_directory`` does this around a block that writes local files (uploading them first when the
output is remote); ``atomic_file`` and ``write_files`` replace single files by rename. On a local disk ``durable=True`` also
fsyncs the directory and its parent, so a checkpoint survives a power cut once ``publish`` returns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyarrow import fs as pafs

HIDDEN_PREFIXES = (".", "_")
"""Names that a directory listing skips (see the module docstring)."""

_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3"}
_GLOB_CHARS = re.compile(r"[*?\[{]")


def is_local(uri: str | os.PathLike) -> bool:
    uri = str(uri)
    return "://" not in uri or uri.startswith("file:")


def local_path(uri: str | os.PathLike) -> str:
    """The absolute local path of a local path or ``file:`` URI."""
    uri = str(uri)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif uri.startswith("file:"):
        uri = uri[len("file:"):]
    return os.path.abspath(uri)


def qualify(uri: str | os.PathLike) -> str:
    """The canonical URI: ``file:/abs/path`` for local files, others unchanged; no trailing slash."""
    uri = str(uri)
    if is_local(uri):
        return "file:" + local_path(uri)
    return uri.rstrip("/")


def join(uri: str, *parts: str) -> str:
    return "/".join([str(uri).rstrip("/"), *parts])


@lru_cache(maxsize=None)
def _remote_filesystem(root: str) -> pafs.FileSystem:
    return pafs.FileSystem.from_uri(root)[0]


def filesystem(uri: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """The pyarrow file system of ``uri`` and the path in it (one client per bucket or host, reused)."""
    uri = str(uri)
    if is_local(uri):
        return pafs.LocalFileSystem(), local_path(uri)
    scheme, rest = uri.split("://", 1)
    uri = f"{_SCHEME_ALIASES.get(scheme, scheme)}://{rest}"
    authority = rest.split("/", 1)[0]
    fs = _remote_filesystem(f"{uri.split('://', 1)[0]}://{authority}")
    return fs, pafs.FileSystem.from_uri(uri)[1]


# --- reading and writing -----------------------------------------------------------------------------


def open_input(uri: str | os.PathLike, buffer_size: int = 1 << 20):
    """A seekable binary stream (local files through Python's buffered I/O, the fastest for parsers)."""
    if is_local(uri):
        return open(local_path(uri), "rb", buffering=buffer_size)
    fs, path = filesystem(uri)
    return fs.open_input_file(path)


def open_output(uri: str | os.PathLike):
    """A new (or truncated) binary file; parent directories are created."""
    if is_local(uri):
        path = local_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, "wb", buffering=1 << 20)
    fs, path = filesystem(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    return fs.open_output_stream(path)


def read_bytes(uri: str | os.PathLike) -> bytes:
    with open_input(uri) as f:
        return f.read()


def read_text(uri: str | os.PathLike) -> str:
    return read_bytes(uri).decode("utf-8")


def write_bytes(uri: str | os.PathLike, data: bytes) -> None:
    with open_output(uri) as f:
        f.write(data)


def write_text(uri: str | os.PathLike, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def _info(uri: str | os.PathLike) -> pafs.FileInfo:
    fs, path = filesystem(uri)
    return fs.get_file_info(path)


def exists(uri: str | os.PathLike) -> bool:
    return _info(uri).type != pafs.FileType.NotFound


def is_dir(uri: str | os.PathLike) -> bool:
    return _info(uri).type == pafs.FileType.Directory


def delete(uri: str | os.PathLike) -> None:
    """Remove a file or a directory tree; nothing when it does not exist."""
    fs, path = filesystem(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind != pafs.FileType.NotFound:
        fs.delete_file(path)


def rename(src: str, dst: str) -> None:
    """Move a file or directory (``dst`` must not exist). Object stores have no directory rename: there it is a
    copy of every file, then a delete."""
    fs, src_path = filesystem(src)
    _, dst_path = filesystem(dst)
    if is_local(src) or fs.get_file_info(src_path).type != pafs.FileType.Directory:
        fs.move(src_path, dst_path)
        return
    for info in fs.get_file_info(pafs.FileSelector(src_path, recursive=True)):
        if info.type == pafs.FileType.File:
            target = dst_path + info.path[len(src_path):]
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            fs.copy_file(info.path, target)
    fs.delete_dir(src_path)


# --- listing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    uri: str
    size: int
    mtime_ns: int


def is_hidden(relative: str, prefixes: tuple[str, ...] = HIDDEN_PREFIXES) -> bool:
    """Whether a path below a listed directory is hidden: any of its parts starts with a hidden prefix."""
    return any(part.startswith(prefixes) for part in relative.split("/") if part)


def _glob_regex(pattern: str) -> re.Pattern:
    """Hadoop's glob syntax as a regex over whole paths: ``*`` and ``?`` stay within a path part."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
                i = end
        elif c == "{":
            end = pattern.find("}", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("(?:" + "|".join(_glob_regex(alt).pattern for alt in pattern[i + 1:end].split(",")) + ")")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _uri_of(template: str, path: str) -> str:
    """The URI of ``path`` (a path in the file system of ``template``), in ``template``'s spelling."""
    if is_local(template):
        return "file:" + path
    scheme = template.split("://", 1)[0]
    return f"{scheme}://{path}"


def _walk(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(root, recursive=True))


def list_files(patterns: Iterable[str | os.PathLike], hidden: tuple[str, ...] = HIDDEN_PREFIXES) -> list[FileEntry]:
    """The files of paths, directories (recursively) and globs, sorted by URI (see the listing rule);
    ``FileNotFoundError`` names a pattern that matches nothing."""
    found: dict[str, FileEntry] = {}
    for pattern in map(str, patterns):
        fs, path = filesystem(pattern)
        path = path.rstrip("/") or "/"
        if _GLOB_CHARS.search(path):
            base = path[: _GLOB_CHARS.search(path).start()].rsplit("/", 1)[0] or "/"
            regex = _glob_regex(path)
            base_info = fs.get_file_info(base)
            candidates = _walk(fs, base) if base_info.type == pafs.FileType.Directory else []
            matches = [info for info in candidates if regex.fullmatch(info.path)]
        else:
            info = fs.get_file_info(path)
            matches = [] if info.type == pafs.FileType.NotFound else [info]
        if not matches:
            raise FileNotFoundError(f"input not found: {pattern}")
        for match in matches:
            if match.type == pafs.FileType.File:
                found[match.path] = FileEntry(_uri_of(pattern, match.path), match.size or 0, match.mtime_ns or 0)
                continue
            for info in _walk(fs, match.path):
                if info.type == pafs.FileType.File and not is_hidden(info.path[len(match.path):], hidden):
                    found[info.path] = FileEntry(_uri_of(pattern, info.path), info.size or 0, info.mtime_ns or 0)
    return sorted(found.values(), key=lambda e: e.uri)


# --- atomic publish ------------------------------------------------------------------------------------


def fsync(path: str | os.PathLike) -> None:
    """Flush a local file or directory to the disk (a rename is durable once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "wasb", "wasbs", "oss", "cosn"})
COMMIT_FILE = "_SUCCESS"
_ATTEMPT_PREFIX = "_attempt-"


def renames_directories(uri: str | os.PathLike) -> bool:
    """Whether a directory rename is one cheap atomic operation where ``uri`` lives (local disks, HDFS),
    rather than a copy of every file (object stores)."""
    uri = str(uri)
    return is_local(uri) or uri.split("://", 1)[0].lower() not in OBJECT_STORES


def temporary_sibling(output: str) -> str:
    """A fresh name for writing ``output``: ``OUT._tmp-*`` beside it, or on an object store ``OUT/_attempt-*``
    inside it; what a killed writer leaves behind, never taken for output."""
    output = str(output).rstrip("/")
    if not renames_directories(output):
        return f"{output}/{_ATTEMPT_PREFIX}{uuid.uuid4().hex[:12]}"
    return f"{output}._tmp-{uuid.uuid4().hex[:12]}"


def _committed(output: str) -> dict | None:
    """The commit record of an object-store output (``publish``), None for any other output."""
    marker = join(output, COMMIT_FILE)
    if renames_directories(output) or not exists(marker):
        return None
    text = read_text(marker).strip()
    return json.loads(text) if text.startswith("{") else None


def resolve(output: str | os.PathLike, part: str | None = None) -> str:
    """The directory that holds the committed ``output`` (itself, except on an object store), or with
    ``part`` one of the parts ``publish`` recorded (``part`` joined under it when none was recorded)."""
    output = str(output).rstrip("/")
    record = _committed(output)
    if record is None:
        return join(output, part) if part else output
    if part:
        return join(output, record["parts"][part]) if part in record.get("parts", {}) else join(output, record["committed"], part)
    return join(output, record["committed"])


def publish(tmp: str | os.PathLike, output: str | os.PathLike, durable: bool = False, parts: dict[str, str] | None = None) -> None:
    """Make the complete directory ``tmp`` the output ``output``; an old output is removed only once the new
    one is in place. ``durable`` (local): fsync ``tmp`` before and the parent directory after the rename.
    On an object store ``tmp`` is under ``output`` (``temporary_sibling``) and is committed in place; ``parts``
    records where a named part of it lies (``resolve(output, name)``) when not in ``tmp``."""
    tmp, output = str(tmp).rstrip("/"), str(output).rstrip("/")
    if not renames_directories(output):
        if not tmp.startswith(output + "/" + _ATTEMPT_PREFIX):
            raise ValueError(f"{tmp} is not an attempt directory of {output}")
        relative = lambda uri: str(uri).rstrip("/")[len(output) + 1:]  # noqa: E731
        previous = _committed(output)
        record = {"committed": relative(tmp), "parts": {k: relative(v) for k, v in (parts or {}).items()}}
        write_text(join(output, COMMIT_FILE), json.dumps(record) + "\n")
        attempt = record["committed"].split("/", 1)[0]
        fs, path = filesystem(output)
        for info in fs.get_file_info(pafs.FileSelector(path, recursive=False)):
            name = info.path.rstrip("/").rsplit("/", 1)[-1]
            replaced = previous and name == previous["committed"].split("/", 1)[0]
            if name != attempt and name != COMMIT_FILE and (replaced or not previous and not name.startswith(_ATTEMPT_PREFIX)):
                delete(join(output, name))  # the attempt this one replaces, or an output written by renames before
        return
    local = is_local(output)
    if durable and local:
        fsync(local_path(tmp))
    trash = None
    if exists(output):
        trash = f"{output}._old-{uuid.uuid4().hex[:12]}"
        rename(output, trash)
    rename(tmp, output)
    if durable and local:
        fsync(os.path.dirname(local_path(output)))
    if trash:
        delete(trash)
    remove_leftovers(output)


def remove_leftovers(output: str | os.PathLike) -> list[str]:
    """Delete what killed writers of ``output`` left beside it (``OUT._tmp-*``, ``OUT._old-*``); called once
    ``output`` is published, so it assumes one writer per output at a time. Returns what it deleted."""
    output = str(output).rstrip("/")
    fs, path = filesystem(output)
    parent, _, base = path.rpartition("/")
    try:
        infos = fs.get_file_info(pafs.FileSelector(parent or "/", recursive=False))
    except OSError:
        return []
    removed = []
    for info in infos:
        name = info.path.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith((f"{base}._tmp-", f"{base}._old-")):
            removed.append(join(output.rpartition("/")[0], name) if "/" in output else name)
            delete(removed[-1])
    return removed


def discard(tmp: str, output: str) -> None:
    """Remove the temporary directory ``tmp`` of ``output`` unless ``publish`` committed it in place."""
    record = _committed(str(output).rstrip("/"))
    if record and str(tmp).rstrip("/").endswith("/" + record["committed"].split("/", 1)[0]):
        return
    delete(tmp)


def _upload(local_dir: Path, uri: str) -> None:
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            with open(path, "rb") as src, open_output(join(uri, path.relative_to(local_dir).as_posix())) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)


@contextmanager
def staged_directory(output: str | os.PathLike) -> Iterator[Path]:
    """``with staged_directory(out) as tmp:`` write local files into ``tmp``; they become ``out`` when the
    block completes (uploaded first when ``out`` is remote), and are removed when it fails."""
    output = str(output).rstrip("/")
    if is_local(output):
        final = local_path(output)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = Path(temporary_sibling(final))
        tmp.mkdir()
        try:
            yield tmp
            publish(str(tmp), final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    with tempfile.TemporaryDirectory(prefix="teleflm-stage-") as local:
        yield Path(local)
        remote_tmp = temporary_sibling(output)
        try:
            _upload(Path(local), remote_tmp)
            publish(remote_tmp, output)
        except BaseException:
            delete(remote_tmp)
            raise


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: os.umask can only be read by setting it

@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """``with atomic_file(path) as f:`` write a local file under a temporary name in its directory; it
    replaces ``path`` by a rename when the block completes and is removed when it fails. The file gets the
    permissions a plain ``open`` would give it (``mkstemp`` makes it private to its owner)."""
    path = Path(local_path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(out_dir: str | os.PathLike, files: dict[str, str | bytes]) -> None:
    """Replace each named file in the local directory ``out_dir`` (``atomic_file``)."""
    for name, content in files.items():
        with atomic_file(Path(local_path(out_dir)) / name) as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
