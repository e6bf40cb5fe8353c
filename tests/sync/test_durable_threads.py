"""Two threads of one process putting the same private file at once (the catch panel's
Record, on its own pool, and its worker both writing the spool's key header) each write
their own temporary file: named by the pid alone, one thread's rename took the other's
file away mid-write (FileNotFoundError) or put the other's half-written text in place."""

from __future__ import annotations

import threading
from pathlib import Path

from sync.durable import replace_private, temporary_beside


def test_two_threads_replacing_one_file_each_write_whole_and_none_fails(tmp_path: Path) -> None:
    path = tmp_path / "jaga.db.kdf.json"
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(text: str) -> None:
        start.wait()
        try:
            for _ in range(300):
                replace_private(path, text)
        except BaseException as error:  # handed to the main thread's assertion
            errors.append(error)

    texts = ["a" * 20_000 + "\n", "b" * 20_000 + "\n"]
    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert path.read_text() in texts
    assert not list(tmp_path.glob(".*.tmp"))


def test_each_thread_has_a_temporary_name_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "f"
    names: list[Path] = []
    thread = threading.Thread(target=lambda: names.append(temporary_beside(path)))
    thread.start()
    thread.join()
    assert names[0] != temporary_beside(path)
