"""The output folder of a batch job: one Parquet dataset plus the job's own bookkeeping.

Layout of ``DIR`` (a local folder or a URI pyarrow's filesystems open)::

    part-000012-0000.parquet   rows of work unit 12 (a video's later chunks: -0001, -0002...)
    _summary.json, _summary.txt the summary of the finished job
    _batch/job.json            the command's inputs and options (``--resume`` must match them)
    _batch/inputs.parquet      every input with its unit, so a resumed job plans the same units
    _batch/staging/            a video's chunks until the whole clip is done
    _batch/done/unit-000012.json  written after a unit's rows are in place

Readers of the dataset (pandas, pyarrow, Spark, DuckDB) skip names starting with ``_`` or ``.``.
Every file is written under a hidden temporary name and renamed into place, and a unit's file
names depend only on the unit: a unit run twice (a worker killed and its task retried, or a
resumed job) overwrites its own files, so no row is ever written twice.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

from batch.inputs import BatchError, is_uri, open_filesystem

BOOKKEEPING = "_batch"
SUMMARY_JSON = "_summary.json"
SUMMARY_TEXT = "_summary.txt"


def part_name(unit: int, chunk: int) -> str:
    """File name of a unit's ``chunk``-th Parquet file."""
    return f"part-{unit:06d}-{chunk:04d}.parquet"


class Output:
    """The job's folder on a pyarrow filesystem; picklable, so workers get their own handle."""

    def __init__(self, location: str) -> None:
        self.location = str(location)
        if is_uri(self.location):
            self.fs, self.root = open_filesystem(self.location)
        else:
            from pyarrow import fs  # noqa: PLC0415

            self.fs, self.root = fs.LocalFileSystem(), Path(self.location).expanduser().resolve().as_posix()

    def __reduce__(self) -> tuple[Any, ...]:
        return (Output, (self.location,))

    def path(self, *parts: str) -> str:
        """The full path of a name inside the folder."""
        return "/".join([self.root.rstrip("/"), *parts])

    # -------------------------------------------------------------------- checks before the job

    def entries(self) -> list[str]:
        """Names directly inside the folder (empty when it does not exist)."""
        from pyarrow import fs  # noqa: PLC0415

        info = self.fs.get_file_info(self.root)
        if info.type == fs.FileType.NotFound:
            return []
        if info.type != fs.FileType.Directory:
            raise BatchError(f"--out {self.location} is a file, not a folder")
        selector = fs.FileSelector(self.root, recursive=False)
        return sorted(entry.base_name for entry in self.fs.get_file_info(selector))

    def check_writable(self) -> None:
        """Create the folder and write, then delete, a probe file.

        Raises:
            BatchError: the folder cannot be created or written.
        """
        probe = self.path(f".probe-{uuid.uuid4().hex}.tmp")
        try:
            self.fs.create_dir(self.root, recursive=True)
            with self.fs.open_output_stream(probe) as handle:
                handle.write(b"ok")
            self.fs.delete_file(probe)
        except OSError as exc:
            raise BatchError(f"cannot write to --out {self.location}: {exc}") from exc

    # ----------------------------------------------------------------------------- writing

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a file atomically: a hidden temporary name in the same folder, then a rename."""
        target = self.path(name)
        folder, _, base = target.rpartition("/")
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.{base}.{uuid.uuid4().hex}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as handle:
                handle.write(data)
            self.fs.move(tmp, target)
        except BaseException:
            self._delete_quietly(tmp)
            raise

    def write_table(self, name: str, table: Any) -> None:
        """Write a ``pyarrow.Table`` as a Parquet file, atomically."""
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self.write_bytes(name, sink.getvalue().to_pybytes())

    def write_json(self, name: str, data: Any) -> None:
        """Write JSON atomically."""
        self.write_bytes(name, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def read_json(self, name: str) -> Any:
        """A JSON file of the folder (``None`` when missing)."""
        try:
            with self.fs.open_input_stream(self.path(name)) as handle:
                return json.loads(handle.read().decode())
        except FileNotFoundError:
            return None

    def move(self, source: str, target: str) -> None:
        """Rename a file inside the folder (replacing ``target``)."""
        self.fs.move(self.path(source), self.path(target))

    def delete(self, name: str) -> None:
        """Delete a file if it is there."""
        self._delete_quietly(self.path(name))

    def _delete_quietly(self, full: str) -> None:
        try:
            self.fs.delete_file(full)
        except (FileNotFoundError, OSError):
            pass

    def listing(self, folder: str) -> list[str]:
        """File names in a sub-folder (none when it is missing)."""
        from pyarrow import fs  # noqa: PLC0415

        selector = fs.FileSelector(self.path(folder), recursive=False, allow_not_found=True)
        return sorted(entry.base_name for entry in self.fs.get_file_info(selector) if entry.type == fs.FileType.File)

    # ------------------------------------------------------------------------ units done

    def mark_done(self, unit: int, *, rows: int, chunks: int) -> None:
        """Record that a unit's rows are all in place, and which worker did it (its process, peak memory and CPU seconds so far)."""
        import resource  # noqa: PLC0415 - POSIX only, and only on workers

        usage = resource.getrusage(resource.RUSAGE_SELF)
        record = {
            "unit": unit, "rows": rows, "chunks": chunks, "pid": os.getpid(), "host": socket.gethostname(),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        }  # fmt: skip
        self.write_json(f"{BOOKKEEPING}/done/unit-{unit:06d}.json", record)

    def done_units(self) -> set[int]:
        """Units whose rows are all written."""
        done = set()
        for name in self.listing(f"{BOOKKEEPING}/done"):
            if name.startswith("unit-") and name.endswith(".json"):
                done.add(int(name[5:-5]))
        return done

    def remove_temporaries(self) -> None:
        """Delete what killed workers left half-written (hidden ``.tmp`` files) and stale staging."""
        for folder in ("", BOOKKEEPING, f"{BOOKKEEPING}/done"):
            for name in self.listing(folder):
                if name.startswith(".") and name.endswith(".tmp"):
                    self.delete(f"{folder}/{name}" if folder else name)
        for name in self.listing(f"{BOOKKEEPING}/staging"):
            self.delete(f"{BOOKKEEPING}/staging/{name}")

    def read_columns(self, columns: list[str]) -> Any:
        """The dataset's ``columns`` as one ``pyarrow.Table`` (bookkeeping files skipped)."""
        import pyarrow.dataset as ds  # noqa: PLC0415

        from batch.rows import schema  # noqa: PLC0415

        files = [self.path(name) for name in self.listing("") if name.startswith("part-") and name.endswith(".parquet")]
        if not files:
            return schema().empty_table().select(columns)
        return ds.dataset(files, schema=schema(), format="parquet", filesystem=self.fs).to_table(columns=columns)
