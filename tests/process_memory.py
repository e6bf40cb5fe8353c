"""Where bytes lie in another process's memory: ``/proc/PID/maps`` and ``/proc/PID/mem``.

A test that asks whether a secret is left in memory scans a worker process it started, not
itself: the test holds the secret to look for, and a scan of its own memory would find
that copy (and the buffers it reads the memory into). Reading another process's memory
takes the right to trace it: a child of the test, same user, has it (Yama's default scope
1 lets a parent trace its children). Linux only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# The kernel's pages every process maps that are not the process's own memory.
_SKIPPED = frozenset({"[vvar]", "[vsyscall]", "[vdso]", "[vvar_vclock]"})


@dataclass(frozen=True)
class Found:
    """One copy: which needle, at what address, in which mapping, and the bytes before it
    (a Python object's header there tells a Python copy from one in the C heap)."""

    needle: str
    address: int
    mapping: str
    before: bytes

    def __str__(self) -> str:
        return f"{self.needle} at {self.address:#x} in {self.mapping or '[anonymous]'}"


def _readable_mappings(pid: int) -> Iterator[tuple[int, int, str]]:
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        name = fields[5] if len(fields) > 5 else ""
        if fields[1].startswith("r") and name not in _SKIPPED:
            yield start, end, name


def find_in_memory(pid: int, needles: Mapping[str, bytes]) -> list[Found]:
    """Every copy of each needle in the readable memory of the process ``pid`` (stopped or
    waiting: a process that runs meanwhile may move what it holds)."""
    found = []
    with Path(f"/proc/{pid}/mem").open("rb", buffering=0) as memory:
        for start, end, name in _readable_mappings(pid):
            try:
                memory.seek(start)
                data = memory.read(end - start)
            except OSError:  # a guard page, an I/O mapping: nothing of the process's data
                continue
            for label, needle in needles.items():
                for match in re.finditer(re.escape(needle), data):
                    at = match.start()
                    found.append(Found(label, start + at, name, data[max(0, at - 48) : at]))
    return found
