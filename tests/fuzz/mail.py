"""Hostile mail for the fuzzers: real fixtures mutated, and shapes that strain a MIME parser."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

INBOUND = Path(__file__).parents[1] / "inbound" / "fixtures"
FIXTURES = sorted(INBOUND.glob("*.eml")) + sorted((INBOUND / "replies").glob("*.eml"))
CHARSETS = ["utf-8", "koi8-r", "x-unknown", "utf-7", "\x00", "utf-8\x00", "", "iso-2022-jp",
    "utf-16", "idna", "rot13", "base64", "zip", "unicode-escape"]  # fmt: skip
INJECTIONS = [b"\r\nBcc: evil@example.com", b"\nContent-Type: multipart/mixed", b"\r\n\r\n",
    b"=?UTF-8?Q?=0ABcc:_evil@example.com?=", b"=?x?B?////?=", b"\x00", b"\xff\xfe",
    b": :", b"\r\n ", b"<", b"\"", b"=?utf-8?q?", b"=?UTF-8?B?", b"%%TO%%"]  # fmt: skip


def fixture_bytes(path: Path, to: str) -> bytes:
    raw = path.read_bytes()
    for marker in (b"%%TO%%", b"%%BOUNCE%%", b"%%RECIPIENT%%", b"%%FBL%%"):
        raw = raw.replace(marker, to.encode())
    raw = raw.replace(b"%%MESSAGE_ID%%", b"<original@example.org>")
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def nested(depth: int, charset: str = "utf-8") -> bytes:
    """A message whose multipart parts nest ``depth`` deep."""
    head = b"From: ann@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    body = f"Content-Type: text/plain; charset={charset}\r\n\r\nbottom\r\n".encode()
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--'
            + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    return head + body


def many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--x\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\npart\r\n" for _ in range(count)
    )
    return (
        b"From: ann@example.com\r\nSubject: parts\r\nContent-Type: multipart/report; "
        b'report-type=delivery-status; boundary="x"\r\n\r\n' + parts + b"--x--\r\n"
    )


@st.composite
def mutated(draw, to: str = "ann@example.com") -> bytes:
    """A real fixture with a few hostile edits: flipped bytes, a cut, an injected header
    line, a swapped charset."""
    raw = bytearray(fixture_bytes(draw(st.sampled_from(FIXTURES)), to))
    for _ in range(draw(st.integers(0, 4))):
        edit = draw(st.sampled_from(["flip", "cut", "inject", "charset", "insert"]))
        position = draw(st.integers(0, max(len(raw) - 1, 0)))
        if edit == "flip" and raw:
            raw[position] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del raw[position:]
        elif edit == "inject":
            raw[position:position] = draw(st.sampled_from(INJECTIONS))
        elif edit == "charset":
            raw = bytearray(
                bytes(raw).replace(
                    b"charset=", b"charset=" + draw(st.sampled_from(CHARSETS)).encode() + b";x=", 1
                )
            )
        else:
            raw[position:position] = draw(st.binary(max_size=16))
    return bytes(raw)


HOSTILE_MAIL = st.one_of(
    mutated(),
    st.binary(max_size=2000),
    st.sampled_from(CHARSETS).map(lambda charset: nested(3, charset)),
    st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
