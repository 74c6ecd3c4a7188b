"""C2SP signed notes and tlog checkpoints, signed with Ed25519.

- Keys use the golang.org/x/mod/sumdb/note text encodings, so the same key strings work
  with Go tooling: signer key ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`` and
  verifier key ``<name>+<hash>+<base64(0x01 || public key)>``, where the key ID (hash) is
  the first 4 bytes, big-endian, of ``SHA-256(name || 0x0A || 0x01 || public key)``.
- A signed note (c2sp.org/signed-note) is the text (ending in a newline), a blank line,
  then one line per signature: ``— <name> <base64(key ID || signature)>``.
- A checkpoint (c2sp.org/tlog-checkpoint) is a note whose text is the log origin, the
  tree size in decimal and the base64 root hash, one per line.

Parsing is deliberately strict (canonical base64, exact lengths, no stray characters): a
lenient parser is how two readers come to disagree about what a signed text says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "ALG_ED25519",
    "Checkpoint",
    "CheckpointError",
    "NoteError",
    "Signer",
    "Verifier",
    "generate_key",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
]

ALG_ED25519: Final = 0x01
"""Signature type byte for Ed25519 (c2sp.org/signed-note)."""

_SIG_PREFIX: Final = "\u2014 "  # em dash, space
_MAX_SIGNATURES: Final = 100  # as golang.org/x/mod/sumdb/note; the spec asks for >= 16
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIG_SIZE: Final = 64
_HASH_SIZE: Final = 32
_MAX_UINT64: Final = (1 << 64) - 1
_HEX8: Final = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")


class NoteError(Exception):
    """A key, note or signature is malformed, or no trusted key verifies the note."""


class CheckpointError(NoteError):
    """A note's text is not a well-formed tlog checkpoint."""


def _is_valid_name(name: str) -> bool:
    """Key names: non-empty UTF-8 without Unicode spaces, plus signs or control chars."""
    if not isinstance(name, str) or not name or "+" in name:
        return False
    # Control characters are not spaces to str.isspace, but a note may not contain them,
    # so a name holding one could only ever produce malformed notes.
    if any(ch.isspace() or ch < " " for ch in name):
        return False
    try:
        name.encode("utf-8")  # lone surrogates are not valid UTF-8
    except UnicodeEncodeError:
        return False
    return True


def _b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, rejecting any non-canonical spelling.

    ``base64.b64decode`` accepts surplus padding and non-zero trailing bits, so the same
    bytes could be written several ways; re-encoding and comparing rules that out.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "invalid base64"
        raise NoteError(msg) from exc
    if base64.b64encode(raw).decode("ascii") != text:
        msg = "non-canonical base64"
        raise NoteError(msg)
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> int:
    """Key ID (uint32): first 4 bytes, big-endian, of SHA-256(name || 0x0A || alg || key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _split_key(key: str, parts: int, what: str) -> list[str]:
    # Names cannot contain "+" but base64 key data can, so split from the left only as
    # many times as there are fields before the key data (like note.go's chop).
    fields = key.split("+", parts - 1)
    if len(fields) != parts:
        msg = f"malformed {what}"
        raise NoteError(msg)
    return fields


def _parse_key_fields(name: str, hash16: str, key64: str, what: str) -> tuple[int, bytes]:
    if not _is_valid_name(name) or not _HEX8.fullmatch(hash16):
        msg = f"malformed {what}"
        raise NoteError(msg)
    try:
        key = _b64decode_strict(key64)
    except NoteError as exc:
        msg = f"malformed {what}: {exc}"
        raise NoteError(msg) from exc
    if not key:
        msg = f"malformed {what}"
        raise NoteError(msg)
    if key[0] != ALG_ED25519:
        msg = f"unknown algorithm {key[0]:#04x} in {what}"
        raise NoteError(msg)
    if len(key) != 1 + _ED25519_KEY_SIZE:
        msg = f"malformed {what}: Ed25519 key has {len(key) - 1} bytes, want 32"
        raise NoteError(msg)
    return int(hash16, 16), key[1:]


class Verifier:
    """Verifies Ed25519 note signatures for one named public key."""

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        """Build a verifier from a key name and a raw 32-byte Ed25519 public key."""
        if not _is_valid_name(name):
            msg = f"invalid key name {name!r}"
            raise NoteError(msg)
        public_key = bytes(public_key)
        if len(public_key) != _ED25519_KEY_SIZE:
            msg = f"Ed25519 public key has {len(public_key)} bytes, want 32"
            raise NoteError(msg)
        self._name = name
        self._public_key = public_key
        self._key = Ed25519PublicKey.from_public_bytes(public_key)
        self._key_id = key_id(name, public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

        Raises NoteError if it is malformed, not Ed25519, or its key ID does not match.
        """
        name, hash16, key64 = _split_key(vkey, 3, "verifier key")
        claimed, public_key = _parse_key_fields(name, hash16, key64, "verifier key")
        verifier = cls(name, public_key)
        if verifier.key_id != claimed:
            msg = f"verifier key ID {hash16} does not match its key ({verifier.key_id:08x})"
            raise NoteError(msg)
        return verifier

    @property
    def name(self) -> str:
        """The key name (for a log, conventionally its origin)."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key ID, as shown in hex in the key strings."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        """This key encoded as a verifier key string."""
        return (
            f"{self._name}+{self._key_id:08x}+{_b64encode(bytes([ALG_ED25519]) + self._public_key)}"
        )

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a valid Ed25519 signature of ``msg`` by this key."""
        try:
            self._key.verify(bytes(sig), bytes(msg))
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self._name}+{self._key_id:08x})"


class Signer:
    """Signs notes with one named Ed25519 private key."""

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, seed: bytes) -> None:
        """Build a signer from a key name and a raw 32-byte Ed25519 private key seed."""
        if not _is_valid_name(name):
            msg = f"invalid key name {name!r}"
            raise NoteError(msg)
        seed = bytes(seed)
        if len(seed) != _ED25519_KEY_SIZE:
            msg = f"Ed25519 seed has {len(seed)} bytes, want 32"
            raise NoteError(msg)
        self._name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public_key = self._key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self._public_key)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse a signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``.

        Raises NoteError if it is malformed, not Ed25519, or its key ID does not match the
        public key derived from the seed.
        """
        priv, key, name, hash16, key64 = _split_key(skey, 5, "signer key")
        if priv != "PRIVATE" or key != "KEY":
            msg = "malformed signer key"
            raise NoteError(msg)
        claimed, seed = _parse_key_fields(name, hash16, key64, "signer key")
        signer = cls(name, seed)
        # The ID hashes the public key, so it can only be checked after deriving it.
        if signer.key_id != claimed:
            msg = f"signer key ID {hash16} does not match its key ({signer.key_id:08x})"
            raise NoteError(msg)
        return signer

    @property
    def name(self) -> str:
        """The key name (for a log, conventionally its origin)."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key ID, as shown in hex in the key strings."""
        return self._key_id

    @property
    def vkey(self) -> str:
        """The matching verifier key string, safe to publish."""
        return self.verifier().vkey

    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self._name, self._public_key)

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``msg``."""
        return self._key.sign(bytes(msg))

    def __repr__(self) -> str:
        # Never show key material.
        return f"Signer({self._name}+{self._key_id:08x})"


def generate_key(name: str) -> tuple[str, str]:
    """Generate a new Ed25519 key named ``name``; returns ``(skey, vkey)``.

    The signer key is secret; the verifier key is what auditors are given.
    """
    if not _is_valid_name(name):
        msg = f"invalid key name {name!r}"
        raise NoteError(msg)
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    kid = key_id(name, public)
    skey = f"PRIVATE+KEY+{name}+{kid:08x}+{_b64encode(bytes([ALG_ED25519]) + seed)}"
    vkey = f"{name}+{kid:08x}+{_b64encode(bytes([ALG_ED25519]) + public)}"
    return skey, vkey


def _check_note_chars(text: str) -> None:
    # Signed notes must be valid UTF-8 with no ASCII control characters but newline.
    if any(ch < " " and ch != "\n" for ch in text):
        msg = "malformed note: control character"
        raise NoteError(msg)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = "malformed note: not valid UTF-8"
        raise NoteError(msg) from exc


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer, in order.

    Returns ``text + "\\n"`` followed by one ``— <name> <base64(key ID || sig)>`` line per
    signer. Raises NoteError for empty or malformed text or no signers.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        msg = "malformed note: text must end in a newline"
        raise NoteError(msg)
    _check_note_chars(text)
    if not signers:
        msg = "a signed note needs at least one signer"
        raise NoteError(msg)
    msg_bytes = text.encode("utf-8")
    lines = []
    for signer in signers:
        if not _is_valid_name(signer.name):
            msg = f"invalid signer name {signer.name!r}"
            raise NoteError(msg)
        sig = signer.key_id.to_bytes(4, "big") + signer.sign(msg_bytes)
        lines.append(f"{_SIG_PREFIX}{signer.name} {_b64encode(sig)}\n")
    return text + "\n" + "".join(lines)


def _verifier_map(verifiers: Sequence[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        k = (v.name, v.key_id)
        other = known.get(k)
        if other is not None and other.public_key != v.public_key:
            # Two different keys with the same name and ID: we could not tell which one a
            # signature claims to be from, so refuse rather than guess.
            msg = f"ambiguous key {v.name}+{v.key_id:08x}: two different keys given"
            raise NoteError(msg)
        known[k] = v
    return known


def open_note(note: str, verifiers: Sequence[Verifier]) -> str:
    """Verify a signed note and return its text (including the final newline).

    Signatures by keys not in ``verifiers`` (name and key ID both matching) are ignored,
    as the signed-note spec requires (e.g. witness cosignatures). Raises NoteError if the
    note is malformed, if a known key's signature does not verify, or if no known key
    signed it.
    """
    if not isinstance(note, str):
        msg = "malformed note: not a str"
        raise NoteError(msg)
    _check_note_chars(note)
    # The text is separated from the signatures by the *last* blank line.
    split = note.rfind("\n\n")
    if split < 0:
        msg = "malformed note: no blank line before the signatures"
        raise NoteError(msg)
    text, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        msg = "malformed note: the signature block must be non-empty and end in a newline"
        raise NoteError(msg)
    lines = sig_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        msg = f"malformed note: more than {_MAX_SIGNATURES} signatures"
        raise NoteError(msg)

    known = _verifier_map(verifiers)
    msg_bytes = text.encode("utf-8")
    verified: set[tuple[str, int]] = set()
    for n, line in enumerate(lines, start=1):
        if not line.startswith(_SIG_PREFIX):
            msg = f"malformed note: signature line {n} does not start with an em dash"
            raise NoteError(msg)
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not b64 or not _is_valid_name(name):
            msg = f"malformed note: signature line {n}"
            raise NoteError(msg)
        try:
            raw = _b64decode_strict(b64)
        except NoteError as exc:
            msg = f"malformed note: signature line {n}: {exc}"
            raise NoteError(msg) from exc
        if len(raw) < 5:
            msg = f"malformed note: signature line {n} is too short"
            raise NoteError(msg)
        k = (name, int.from_bytes(raw[:4], "big"))
        verifier = known.get(k)
        if verifier is None or k in verified:
            continue  # unknown key, or a repeat of a signature already checked
        if not verifier.verify(msg_bytes, raw[4:]):
            msg = f"invalid signature for key {name}+{k[1]:08x}"
            raise NoteError(msg)
        verified.add(k)
    if not verified:
        msg = "note has no verifiable signatures (no known key signed it)"
        raise NoteError(msg)
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: the log's origin, tree size and RFC 6962 root hash.

    Extension lines of a parsed checkpoint are accepted but not kept: this log never
    writes any, and c2sp.org/tlog-checkpoint advises against them.
    """

    origin: str
    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        """Refuse values that could not be marshalled into a well-formed checkpoint."""
        if not isinstance(self.origin, str) or not self.origin:
            msg = "checkpoint origin must be a non-empty str"
            raise ValueError(msg)
        if any(ch < " " for ch in self.origin):
            msg = "checkpoint origin must not contain newlines or control characters"
            raise ValueError(msg)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            msg = f"checkpoint size must be an int, got {type(self.size).__name__}"
            raise ValueError(msg)
        if not 0 <= self.size <= _MAX_UINT64:
            msg = f"checkpoint size {self.size} is outside the uint64 range"
            raise ValueError(msg)
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _HASH_SIZE:
            msg = "checkpoint root hash must be 32 bytes"
            raise ValueError(msg)

    def marshal(self) -> str:
        """The checkpoint note text: ``origin\\nsize\\nbase64(root)\\n``."""
        return f"{self.origin}\n{self.size}\n{_b64encode(self.root_hash)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly; raises CheckpointError.

    Requires a non-empty origin line, a decimal size without leading zeros (uint64), a
    canonical base64 32-byte root hash, and a final newline. Further (non-empty)
    extension lines are allowed and dropped.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        msg = "checkpoint text must end in a newline"
        raise CheckpointError(msg)
    if any(ch < " " and ch != "\n" for ch in text):
        msg = "checkpoint text contains a control character"
        raise CheckpointError(msg)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        msg = f"checkpoint needs at least 3 lines, got {len(lines)}"
        raise CheckpointError(msg)
    origin, size_text, root_text, *extensions = lines
    if not origin:
        msg = "checkpoint origin is empty"
        raise CheckpointError(msg)
    if not _DECIMAL.fullmatch(size_text):
        msg = f"checkpoint size {size_text!r} is not a decimal without leading zeros"
        raise CheckpointError(msg)
    size = int(size_text)
    if size > _MAX_UINT64:
        msg = f"checkpoint size {size_text} is outside the uint64 range"
        raise CheckpointError(msg)
    try:
        root_hash = _b64decode_strict(root_text)
    except NoteError as exc:
        msg = f"checkpoint root hash: {exc}"
        raise CheckpointError(msg) from exc
    if len(root_hash) != _HASH_SIZE:
        msg = f"checkpoint root hash has {len(root_hash)} bytes, want {_HASH_SIZE}"
        raise CheckpointError(msg)
    if any(not line for line in extensions):
        msg = "checkpoint extension lines must be non-empty"
        raise CheckpointError(msg)
    return Checkpoint(origin, size, root_hash)


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The signed note for ``cp``, signed by ``signer`` (whose name should be the origin)."""
    return sign_note(cp.marshal(), [signer])


def verify_checkpoint(
    note: str, verifier: Verifier, *, expected_origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against ``verifier`` and parse it.

    Raises NoteError if the signature does not verify (CheckpointError if the verified
    text is not a checkpoint, or its origin differs from ``expected_origin`` when given).
    """
    cp = parse_checkpoint(open_note(note, [verifier]))
    if expected_origin is not None and cp.origin != expected_origin:
        msg = f"checkpoint origin {cp.origin!r} is not the expected {expected_origin!r}"
        raise CheckpointError(msg)
    return cp
