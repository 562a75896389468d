"""Drawing lots (抽签) for the running order, and anonymous entry codes.

The draw must be random, reproducible and auditable: `draw_order` shuffles the entries with
`random.Random(seed)` after putting them in a canonical order (sorted by their text form), so
the result depends only on the set of entries and the seed, never on the order a database
query returned them in. When no seed is given one is drawn from `secrets` (64 bits) and
returned with the order; publishing the seed together with the entry list lets anyone re-run
the draw with `verify_draw` (or `python -c "import random; ..."`): Python's Mersenne Twister
and `Random.shuffle` have been stable across versions since 3.2.

Anonymous codes (匿名编号) replace names and units on the judges' screens. They come from an
HMAC-SHA256 keyed with the code seed, one code per entry id, so adding a late entry does not
change anyone else's code. Use a code seed different from the published draw seed and keep it
private: whoever knows it can map codes back to entries.
"""
from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from collections.abc import Hashable, Iterable
from typing import NamedTuple

__all__ = ["SAFE_ALPHABET", "Draw", "anonymous_codes", "draw_order", "new_seed", "verify_draw"]

#: Digits and capitals without the confusable 0/O, 1/I/L (and U, read as V): 30 symbols.
SAFE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


class Draw(NamedTuple):
    """A drawn running order and the seed that reproduces it: ``order, seed = draw_order(ids)``."""

    order: list
    seed: int


def new_seed() -> int:
    """A fresh 64-bit seed from the operating system's secure source."""
    return secrets.randbits(64)


def _canonical(entry_ids: Iterable[Hashable]) -> list:
    ids = list(entry_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("the draw lists an entry twice")
    return sorted(ids, key=lambda x: (str(x), repr(x)))


def draw_order(entry_ids: Iterable[Hashable], seed: int | None = None) -> Draw:
    """The running order by lot: a uniformly random permutation of `entry_ids`.

    Reproducible: the same entries (in any input order) and seed give the same order. With
    `seed=None` a new seed is drawn from `secrets`; record `Draw.seed` to audit the draw."""
    if seed is None:
        seed = new_seed()
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError("the draw seed must be an integer")
    order = _canonical(entry_ids)
    random.Random(seed).shuffle(order)
    return Draw(order, seed)


def verify_draw(entry_ids: Iterable[Hashable], seed: int, order: Iterable[Hashable]) -> bool:
    """True when `order` is exactly what `draw_order(entry_ids, seed)` produces."""
    return draw_order(entry_ids, seed).order == list(order)


def anonymous_codes(entry_ids: Iterable[Hashable], seed: int | str | bytes, length: int = 6,
                    alphabet: str = SAFE_ALPHABET) -> dict:
    """A unique code of `length` symbols from `alphabet` for every entry, e.g. ``"K7QM3P"``.

    Deterministic in (entry id, seed); unique within the call (a collision re-draws the later
    entry in canonical order). Raises `ValueError` when the code space is smaller than twice
    the number of entries (the default, 30^6 ≈ 7×10^8 codes, is far from that)."""
    if length < 1:
        raise ValueError("codes need at least one symbol")
    if len(set(alphabet)) != len(alphabet) or len(alphabet) < 2:
        raise ValueError("the alphabet must have at least two distinct symbols")
    ids = _canonical(entry_ids)
    space = len(alphabet) ** length
    if space < 2 * len(ids):
        raise ValueError(f"{len(alphabet)}^{length} codes are too few for {len(ids)} entries; use longer codes")
    key = seed if isinstance(seed, bytes) else str(seed).encode()
    used: set[str] = set()
    out = {}
    for entry_id in ids:
        attempt = 0
        while True:
            msg = f"{entry_id!s}\x1f{attempt}".encode()
            n = int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest(), "big") % space
            code = ""
            for _ in range(length):
                n, d = divmod(n, len(alphabet))
                code = alphabet[d] + code
            if code not in used:
                break
            attempt += 1
        used.add(code)
        out[entry_id] = code
    return out
