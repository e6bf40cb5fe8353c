"""What scrypt may cost here: the bounds every passphrase slot's parameters are checked against.

Apart from ``sync.store.keys`` because they are limits of this machine's Python, not of a
key: ``hashlib.scrypt`` takes its memory limit as a C int, so a cost needing more cannot run
at all. A slot's parameters, made or read from a header (``ScryptParams``), and a
``StoreConfig`` are refused by ``check_scrypt_cost`` before any scrypt run; the command line
offers ``--scrypt-log2n`` only up to ``MAX_SCRYPT_LOG2N``.
"""

from __future__ import annotations

# The most memory CPython lets scrypt use (``hashlib.scrypt``'s maxmem is a C int): a cost that
# needs more cannot be run here at all, so none is offered, made, or taken from a header.
MAX_SCRYPT_MEMORY = 2**31 - 1
SCRYPT_R = 8
# Parallel lanes multiply the time, not the memory: one is what every slot has been made with,
# and a header asking for many more is damaged (each lane is one more scrypt run per open).
MAX_SCRYPT_P = 16


def scrypt_memory(n: int, r: int, p: int) -> int:
    """Bytes scrypt needs for these parameters, counted as OpenSSL counts them against maxmem
    (its V array of 128 r (N + 2) bytes, and B of 128 r p)."""
    return 128 * r * (n + 2 + p)


def check_scrypt_cost(n: int, r: int = SCRYPT_R, p: int = 1) -> None:
    """ValueError unless ``hashlib.scrypt`` can run these parameters here."""
    if n < 2 or n & (n - 1):
        raise ValueError(f"scrypt n must be a power of two > 1, not {n}")
    if not 1 <= r <= 1024 or not 1 <= p <= MAX_SCRYPT_P:
        raise ValueError(f"scrypt r must be 1 to 1024 and p 1 to {MAX_SCRYPT_P}, not r={r}, p={p}")
    if 16 * r < 64 and n >= 2 ** (16 * r):  # scrypt's own rule (RFC 7914): N < 2^(128 r / 8)
        raise ValueError(f"scrypt n must be below 2^{16 * r} when r is {r}, not {n}")
    if scrypt_memory(n, r, p) > MAX_SCRYPT_MEMORY:
        raise ValueError(
            f"scrypt n={n}, r={r}, p={p} needs {scrypt_memory(n, r, p)} bytes of memory, more"
            f" than the {MAX_SCRYPT_MEMORY} Python's hashlib.scrypt can use"
        )


def _largest_log2n(r: int = SCRYPT_R) -> int:
    log2n = 1
    while scrypt_memory(2 ** (log2n + 1), r, 1) <= MAX_SCRYPT_MEMORY:
        log2n += 1
    return log2n


# The costliest passphrase slot that can be made (20: N = 2^20, 1 GiB at r = 8).
MAX_SCRYPT_LOG2N = _largest_log2n()
