"""The signed head of each instance's audit chain: what makes a cut tail or a recomputed chain
visible to `verify`.

The hash chain (`chain.py`) has no key: whoever may write the table can cut an instance's last
rows or rewrite rows with fresh hashes, and the chain still links. So the sink also keeps, per
instance, a checkpoint of the head it wrote — the last seq and hash — with an HMAC-SHA256 over
them under the audit key (`LANEWAY_AUDIT_KEY_FILE`), a key the database never sees. It is
written in the same transaction as the rows (`audit_heads`), so the rows and the head agree
at every commit. Then:

- a cut tail leaves rows that end before the signed head (`cut`);
- a rewritten chain ends in a hash the head does not sign (`head`), and a head rewritten to
  match has a MAC that does not verify without the key (`signature`);
- a removed head leaves rows with no checkpoint (`checkpoint`), rows added past the head by
  someone without the sink are not anchored (`unanchored`).

What a key in the database's reach could not give: an owner who saved an older signed head
can still put it back after cutting the rows it does not cover (the table's trigger refuses a
head moving back unless the owner switches maintenance on). Keeping the heads outside the
database too (a compacted topic) would close that; see docs/audit.md.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _string

from services.audit.chain import ChainRow, Verification

__all__ = ["DEV_KEY", "MIN_KEY_BYTES", "Checkpoint", "HeadSigner", "check_head"]

MIN_KEY_BYTES = 32
"""The shortest audit key accepted: HMAC-SHA256 wants a key of the hash's size."""

DEV_KEY = b"laneway development audit key: public, never use it in production"
"""The key in development when none is set: anyone can sign with it (the service warns)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An instance's signed head, as stored in `audit_heads`."""

    instance_id: str
    seq: int
    hash: str
    mac: str


class HeadSigner:
    """Signs and checks heads with the audit key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"Expected an audit key of at least {MIN_KEY_BYTES} bytes, but "
                             f"it has {len(key)}")
        self._key = key

    def __repr__(self) -> str:  # never the key
        return "HeadSigner(<key>)"

    def mac(self, instance_id: str, seq: int, head_hash: str) -> str:
        """The hex HMAC-SHA256 of a head; the JSON array keeps the three fields apart.

        The array is `json.dumps([...], ensure_ascii=True, separators=(",", ":"))`, written
        with its string escaper (a `dumps` with options builds an encoder per call), and the
        MAC is the one-shot `hmac.digest`: the same bytes, about a tenth of the CPU (the sink
        signs every instance of every batch)."""
        d = _string
        message = f'["laneway-audit-head/1",{d(instance_id)},{int(seq)},{d(head_hash)}]'
        return hmac.digest(self._key, message.encode("ascii"), "sha256").hex()

    def sign(self, instance_id: str, seq: int, head_hash: str) -> Checkpoint:
        """The checkpoint of a head."""
        return Checkpoint(instance_id, seq, head_hash, self.mac(instance_id, seq, head_hash))

    def valid(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's MAC is this key's over its fields."""
        expected = self.mac(checkpoint.instance_id, checkpoint.seq, checkpoint.hash)
        return hmac.compare_digest(expected, checkpoint.mac.strip())


def check_head(chain: Verification, last: ChainRow | None, checkpoint: Checkpoint | None,
               signer: HeadSigner) -> Verification:
    """The chain's verification, completed with the check of its signed head.

    `chain` is `verify_chain` over the instance's rows (a failure there is reported first),
    `last` the last row read (None for none), `checkpoint` the instance's head as stored.
    """
    if not chain.ok:
        return chain
    rows = chain.rows
    if checkpoint is None:
        return Verification(False, rows, None,
                            "no signed checkpoint of the log's head: it was removed, or the "
                            "rows were written without the audit sink", "checkpoint")
    if not signer.valid(checkpoint):
        return Verification(False, rows, checkpoint.seq,
                            f"the checkpoint of the head (seq {checkpoint.seq}) is not signed "
                            "with the audit key: it was forged or rewritten (or the key "
                            "changed)", "signature")
    last_seq = last.seq if last is not None else 0
    if last_seq < checkpoint.seq:
        missing = (f"seq {checkpoint.seq}" if last_seq + 1 == checkpoint.seq
                   else f"seqs {last_seq + 1} to {checkpoint.seq}")
        return Verification(False, rows, last_seq + 1,
                            f"the signed head is seq {checkpoint.seq}, but the log ends at seq "
                            f"{last_seq}: {missing} missing (the tail was cut)", "cut")
    if last_seq > checkpoint.seq:
        return Verification(False, rows, checkpoint.seq + 1,
                            f"the signed head is seq {checkpoint.seq}, but the log goes on to "
                            f"seq {last_seq}: rows past the head were not written by the audit "
                            "sink", "unanchored")
    assert last is not None  # last_seq == checkpoint.seq >= 1
    if not hmac.compare_digest(last.hash, checkpoint.hash.strip()):
        return Verification(False, rows, last_seq,
                            f"seq {last_seq}'s hash is not the signed head's: the chain was "
                            "rewritten with recomputed hashes", "head")
    return chain
