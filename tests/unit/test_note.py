"""Signed notes and checkpoints: Go interoperability vectors, strict parsing, forgeries.

The PeterNeumann / EnochRoot keys, texts and signatures are the vectors of
golang.org/x/mod/sumdb/note (note.go documentation and note_test.go). Ed25519 signing is
deterministic, so signing the same text with the same key must reproduce Go's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.audit.note import (
    Checkpoint,
    CheckpointError,
    NoteError,
    Signer,
    Verifier,
    generate_key,
    key_id,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngo"
    "tpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

ORIGIN = "changji.example/pricing-audit/replica-1"
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def _expected_key_id(name: str, public_key: bytes) -> int:
    """The C2SP formula, written out independently of the module under test."""
    digest = hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@pytest.fixture(scope="module")
def peter() -> Verifier:
    return Verifier.from_vkey(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> Verifier:
    return Verifier.from_vkey(ENOCH_VKEY)


@pytest.fixture(scope="module")
def peter_signer() -> Signer:
    return Signer.from_skey(PETER_SKEY)


# --------------------------------------------------------------------------------------
# Keys


def test_key_id_known_values(peter: Verifier, enoch: Verifier, peter_signer: Signer) -> None:
    peter_pub = base64.b64decode(PETER_VKEY.split("+", 2)[2])
    assert peter_pub[0] == 1
    assert len(peter_pub) == 33
    assert _expected_key_id("PeterNeumann", peter_pub[1:]) == 0xC74F20A3
    assert peter.key_id == peter_signer.key_id == 0xC74F20A3
    assert key_id("PeterNeumann", peter_pub[1:]) == 0xC74F20A3
    assert peter.public_key == peter_pub[1:]
    assert peter.name == peter_signer.name == "PeterNeumann"
    assert enoch.key_id == 0xAF0CFE78
    assert enoch.name == "EnochRoot"
    # The signer key's seed derives the very public key in the verifier key.
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    derived = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert derived == peter.public_key
    assert peter_signer.vkey == PETER_VKEY
    assert peter.vkey == PETER_VKEY


def test_key_id_fixed_seed() -> None:
    seed = bytes(range(32))
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    want = _expected_key_id(ORIGIN, public)
    signer = Signer(ORIGIN, seed)
    assert signer.key_id == want
    assert signer.vkey == (f"{ORIGIN}+{want:08x}+" + base64.b64encode(b"\x01" + public).decode())
    assert Verifier.from_vkey(signer.vkey).key_id == want
    # Same key, other name: other ID (the name is part of the hash).
    assert Signer("other.example/log", seed).key_id == _expected_key_id("other.example/log", public)
    assert Signer("other.example/log", seed).key_id != want


def test_generate_key_round_trip() -> None:
    skey, vkey = generate_key(ORIGIN)
    assert re.fullmatch(
        rf"PRIVATE\+KEY\+{re.escape(ORIGIN)}\+[0-9a-f]{{8}}\+[A-Za-z0-9+/]{{44}}", skey
    )
    assert re.fullmatch(rf"{re.escape(ORIGIN)}\+[0-9a-f]{{8}}\+[A-Za-z0-9+/]{{44}}", vkey)
    signer, verifier = Signer.from_skey(skey), Verifier.from_vkey(vkey)
    assert signer.name == verifier.name == ORIGIN
    assert signer.key_id == verifier.key_id == int(vkey.split("+")[1], 16)
    assert signer.key_id == _expected_key_id(ORIGIN, verifier.public_key)
    assert signer.vkey == vkey
    msg = b"hi"
    sig = signer.sign(msg)
    assert len(sig) == 64
    assert verifier.verify(msg, sig)
    assert not verifier.verify(b"hI", sig)
    assert not verifier.verify(msg, bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(msg, sig[:-1])
    assert not verifier.verify(msg, b"")
    # Two generated keys differ.
    assert generate_key(ORIGIN)[0] != skey
    assert "PRIVATE" not in repr(signer)
    assert skey.split("+", 4)[4] not in repr(signer)


def _manglings(key: str) -> list[str]:
    """note_test.go's manglings: every proper substring and every one-byte increment."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    out.discard(key)
    for i in range(len(key)):
        out.add(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])
    return sorted(out)


def test_verifier_key_manglings_rejected() -> None:
    bad = [k for k in _manglings(PETER_VKEY) if _parses(Verifier.from_vkey, k)]
    assert bad == []


def test_signer_key_manglings_rejected() -> None:
    bad = [k for k in _manglings(PETER_SKEY) if _parses(Signer.from_skey, k)]
    assert bad == []


def _parses(parse: object, key: str) -> bool:
    try:
        parse(key)  # type: ignore[operator]
    except NoteError:
        return False
    return True


_PETER_KEY_DATA = base64.b64decode(PETER_VKEY.split("+", 2)[2])


def _with_key_id(name: str, key_data: bytes) -> str:
    """A verifier key whose ID is right for its (possibly bogus) key data."""
    kid = int.from_bytes(hashlib.sha256(name.encode() + b"\n" + key_data).digest()[:4], "big")
    return f"{name}+{kid:08x}+{base64.b64encode(key_data).decode()}"


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        # From note_test.go: wrong key length and unknown algorithm, each with a key hash
        # adjusted so that only the key check can catch them. (Go's lenient base64 reads
        # "BADKEY==" as a too-long key; ours already refuses it as non-canonical.)
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "malformed",
        ),
        (_with_key_id("PeterNeumann", _PETER_KEY_DATA + b"\x00"), "Ed25519 key has 33 bytes"),
        (_with_key_id("PeterNeumann", _PETER_KEY_DATA[:-1]), "Ed25519 key has 31 bytes"),
        (_with_key_id("PeterNeumann", b"\x02" + _PETER_KEY_DATA[1:]), "unknown algorithm"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "unknown algorithm"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+C74F20A4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "malformed"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "malformed"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=", "malformed"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", "does not match"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "malformed"),
        ("PeterNeumann+c74f20a3+", "malformed"),
        ("PeterNeumann+c74f20a3", "malformed"),
    ],
)
def test_bad_verifier_keys(vkey: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        Verifier.from_vkey(vkey)


def test_uppercase_key_id_accepted_like_go() -> None:
    # strconv.ParseUint(hash, 16, 32) accepts upper-case hex; so do we.
    v = Verifier.from_vkey(PETER_VKEY.replace("c74f20a3", "C74F20A3"))
    assert v.key_id == 0xC74F20A3


@pytest.mark.parametrize(
    "skey",
    [
        PETER_VKEY,  # a verifier key is not a signer key
        PETER_SKEY.replace("PRIVATE+KEY", "PRIVATE+KEYS"),
        PETER_SKEY.replace("c74f20a3", "c74f20a4"),
        "PRIVATE+KEY+PeterNeumann+c74f20a3+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
        "PRIVATE+KEY+PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + bytes(31)).decode(),
    ],
)
def test_bad_signer_keys(skey: str) -> None:
    with pytest.raises(NoteError):
        Signer.from_skey(skey)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u3000b", "\ud800"]
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteError):
        generate_key(name)
    with pytest.raises(NoteError):
        Signer(name, bytes(32))


# --------------------------------------------------------------------------------------
# Signing and opening notes


def test_sign_reproduces_go_bytes(peter_signer: Signer) -> None:
    assert sign_note(TEXT, [peter_signer]) == TEXT + "\n" + PETER_SIG


def test_open_go_vectors(peter: Verifier, enoch: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == TEXT  # Enoch's signature is unknown: ignored
    assert open_note(note, [enoch]) == TEXT  # and vice versa
    assert open_note(note, [peter, enoch]) == TEXT
    assert open_note(note, [enoch, peter, enoch]) == TEXT  # same key twice is not ambiguous
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(note, [])


def test_duplicate_signatures_ignored(peter: Verifier) -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    assert open_note(note, [peter]) == TEXT


def test_invalid_signature_by_known_key(peter: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(note, [peter])


def test_known_key_bad_signature_is_an_error_even_beside_a_good_one(
    peter: Verifier, enoch: Verifier
) -> None:
    # A bad Enoch signature must not be outvoted by a good Peter one.
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key EnochRoot"):
        open_note(TEXT + "\n" + PETER_SIG + enoch_abcd, [peter, enoch])


def test_signature_from_another_key_under_a_known_id(peter: Verifier) -> None:
    # Enoch's valid signature bytes relabelled with Peter's name and key ID.
    enoch_raw = base64.b64decode(ENOCH_SIG.split(" ")[2])
    relabelled = base64.b64encode(bytes.fromhex("c74f20a3") + enoch_raw[4:]).decode()
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(f"{TEXT}\n— PeterNeumann {relabelled}\n", [peter])


def test_tampered_text_rejected(peter: Verifier) -> None:
    for tampered in (
        TEXT.replace("answer", "Answer"),
        TEXT.replace("is.\n", "is!\n"),
        TEXT + "extra line\n",
        TEXT[:-1] + " \n",
        "\n" + TEXT,
    ):
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(tampered + "\n" + PETER_SIG, [peter])


def test_wrong_key_rejected(peter_signer: Signer) -> None:
    note = sign_note(TEXT, [peter_signer])
    # Same name, different key: a different key ID, so the signature is "unknown".
    _, impostor_vkey = generate_key("PeterNeumann")
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(note, [Verifier.from_vkey(impostor_vkey)])
    _, other_vkey = generate_key("someone.example/else")
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(note, [Verifier.from_vkey(other_vkey)])


def test_multiple_signers_and_cosigners() -> None:
    log = Signer.from_skey(generate_key(ORIGIN)[0])
    witness = Signer.from_skey(generate_key("witness.example/w1")[0])
    note = sign_note(TEXT, [log, witness])
    lines = note.split("\n")
    assert lines[3].startswith(f"— {ORIGIN} ")
    assert lines[4].startswith("— witness.example/w1 ")
    assert note.endswith("\n")
    assert open_note(note, [log.verifier()]) == TEXT
    assert open_note(note, [witness.verifier()]) == TEXT
    raw = base64.b64decode(lines[3].split(" ")[2])
    assert raw[:4] == log.key_id.to_bytes(4, "big")
    assert len(raw) == 4 + 64


def test_ambiguous_verifiers_refused(peter: Verifier) -> None:
    # Two different keys claiming the same name and ID: we could not tell which is meant.
    impostor = Verifier("PeterNeumann", Signer("x", bytes(32)).verifier().public_key)
    object.__setattr__(impostor, "_key_id", peter.key_id)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(TEXT + "\n" + PETER_SIG, [peter, impostor])


def test_text_with_blank_lines_round_trips(peter_signer: Signer, peter: Verifier) -> None:
    for text in ("a\n\nb\n", "a\n\n", "\n", "— looks like a signature line\n\n"):
        assert open_note(sign_note(text, [peter_signer]), [peter]) == text


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"),
        max_size=200,
    )
)
def test_property_sign_open_round_trip(body: str) -> None:
    signer = Signer(ORIGIN, bytes(range(32)))
    text = body + "\n"
    note = sign_note(text, [signer])
    assert open_note(note, [signer.verifier()]) == text
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(text + "x\n" + note[len(text) :], [signer.verifier()])


@pytest.mark.parametrize(
    "note",
    [
        # The malformed messages of note_test.go.
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        "\ud800" + TEXT + "\n" + PETER_SIG,  # not valid UTF-8
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        # More of our own.
        TEXT + "\n" + PETER_SIG.replace("— ", "- "),  # ASCII hyphen, not an em dash
        TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", "PeterNeumann  "),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", "PeterNeumann"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # padding dropped
        TEXT + "\n" + PETER_SIG.replace("=\n", "==\n"),  # surplus padding
        TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),
        TEXT + "\n" + PETER_SIG + "\n",
        TEXT + "\n" + PETER_SIG.replace("— PeterNeumann", "— Peter+Neumann"),
        TEXT + "\n" + "— PeterNeumann x08gow==\n",  # key ID only, no signature bytes
        TEXT + "\n" + PETER_SIG + "— Unknown AAAAAA==\n",  # the same, from an unknown key
        TEXT + "\n" + "— PeterNeumann \n",
        "",
        "\n\n",
    ],
)
def test_malformed_notes(note: str, peter: Verifier) -> None:
    with pytest.raises(NoteError, match=r"malformed|verifiable"):
        open_note(note, [peter])


def test_malformed_rather_than_unverified() -> None:
    # Malformed notes fail as malformed even when no verifier would have been consulted.
    with pytest.raises(NoteError, match="malformed"):
        open_note(TEXT + "\n" + PETER_SIG + "Unexpected line.\n", [])


def test_signature_count_limit(peter: Verifier) -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [peter]) == TEXT
    with pytest.raises(NoteError, match="more than 100"):
        open_note(TEXT + "\n" + PETER_SIG * 101, [peter])


@pytest.mark.parametrize("text", ["", "no newline", "a\n\x00\n", "a\r\n", "\ud800\n"])
def test_sign_rejects_bad_text(text: str, peter_signer: Signer) -> None:
    with pytest.raises(NoteError):
        sign_note(text, [peter_signer])


def test_sign_needs_a_signer() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note(TEXT, [])


# --------------------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_marshal_exact() -> None:
    cp = Checkpoint(ORIGIN, 8, ROOT)
    assert cp.marshal() == (
        "changji.example/pricing-audit/replica-1\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    )
    assert parse_checkpoint(cp.marshal()) == cp
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert empty.marshal().split("\n")[1] == "0"
    assert parse_checkpoint(empty.marshal()) == empty
    biggest = Checkpoint(ORIGIN, 2**64 - 1, ROOT)
    assert parse_checkpoint(biggest.marshal()) == biggest


def test_parse_c2sp_example() -> None:
    cp = parse_checkpoint(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    # Its signed form is well formed; we simply do not know the key.
    signed = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
        "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    )
    _, vkey = generate_key("example.com/behind-the-sofa")
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_checkpoint(signed, Verifier.from_vkey(vkey))


def test_checkpoint_extension_lines() -> None:
    text = Checkpoint(ORIGIN, 8, ROOT).marshal() + "ext one\next two\n"
    assert parse_checkpoint(text) == Checkpoint(ORIGIN, 8, ROOT)


_ROOT_B64 = base64.b64encode(ROOT).decode()
_URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n8\n{_ROOT_B64}",  # no final newline
        f"{ORIGIN}\n8\n",  # no root line
        f"{ORIGIN}\n8\n\n",  # empty root line
        f"\n8\n{_ROOT_B64}\n",  # empty origin
        f"{ORIGIN}\n08\n{_ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n00\n{_ROOT_B64}\n",
        f"{ORIGIN}\n+8\n{_ROOT_B64}\n",
        f"{ORIGIN}\n-8\n{_ROOT_B64}\n",
        f"{ORIGIN}\n 8\n{_ROOT_B64}\n",
        f"{ORIGIN}\n8 \n{_ROOT_B64}\n",
        f"{ORIGIN}\n8_0\n{_ROOT_B64}\n",
        f"{ORIGIN}\n\u0668\n{_ROOT_B64}\n",  # Arabic-Indic eight: a digit to str.isdigit
        f"{ORIGIN}\n0x8\n{_ROOT_B64}\n",
        f"{ORIGIN}\n\n{_ROOT_B64}\n",
        f"{ORIGIN}\n{2**64}\n{_ROOT_B64}\n",
        f"{ORIGIN}\n8\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"{ORIGIN}\n8\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33-byte root
        f"{ORIGIN}\n8\n{_ROOT_B64.rstrip('=')}\n",  # unpadded
        f"{ORIGIN}\n8\n{_ROOT_B64[:-2]}h=\n",  # non-canonical trailing bits
        f"{ORIGIN}\n8\n{_URLSAFE_ROOT}\n",  # URL-safe alphabet
        f"{ORIGIN}\n8\n{_ROOT_B64}\n\n",  # empty extension line
        f"{ORIGIN}\n8\n{_ROOT_B64}\r\n",
        f"{ORIGIN}\r\n8\n{_ROOT_B64}\n",
    ],
)
def test_parse_checkpoint_strict(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_non_canonical_root_case_is_really_non_canonical() -> None:
    # Guard for the parametrized case above: it must decode to the same bytes leniently.
    lenient = base64.b64decode(_ROOT_B64[:-2] + "h=")
    assert lenient == ROOT
    assert base64.b64encode(lenient).decode() != _ROOT_B64[:-2] + "h="


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, 2**64, ROOT),
        (ORIGIN, True, ROOT),
        (ORIGIN, 1, ROOT[:31]),
        (ORIGIN, 1, ROOT.hex()),
    ],
)
def test_checkpoint_construction_validated(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        Checkpoint(origin, size, root)


def test_signed_checkpoint_round_trip() -> None:
    skey, vkey = generate_key(ORIGIN)
    signer, verifier = Signer.from_skey(skey), Verifier.from_vkey(vkey)
    cp = Checkpoint(ORIGIN, 8, ROOT)
    note = sign_checkpoint(cp, signer)
    assert note.startswith(cp.marshal() + "\n— " + ORIGIN + " ")
    assert verify_checkpoint(note, verifier) == cp
    assert verify_checkpoint(note, verifier, expected_origin=ORIGIN) == cp
    with pytest.raises(CheckpointError, match="origin"):
        verify_checkpoint(note, verifier, expected_origin="changji.example/other")
    # Any change to size or root breaks the signature.
    forged_size = note.replace("\n8\n", "\n9\n", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        verify_checkpoint(forged_size, verifier)
    other_root = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    forged_root = note.replace(_ROOT_B64, other_root, 1)
    with pytest.raises(NoteError, match="invalid signature"):
        verify_checkpoint(forged_root, verifier)
    # Another key (even one with the log's name) does not verify it.
    _, impostor = generate_key(ORIGIN)
    with pytest.raises(NoteError, match="no verifiable"):
        verify_checkpoint(note, Verifier.from_vkey(impostor))


def test_verified_note_that_is_not_a_checkpoint(peter_signer: Signer, peter: Verifier) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(sign_note(TEXT, [peter_signer]), peter)
