"""The `imap-mailbox` trigger without a server: its deploy-time check and how it reads what a
sender chose (file names, HTML, folder names, nesting). The IMAP side: tests/integration/
test_trigger_imap.py against Dovecot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laneway.triggers.builtin import _mime
from laneway.triggers.builtin.imap import ImapMailboxTrigger, _dedup_key, _mailbox, _uid_set


def problems(**settings: str) -> list[str]:
    return list(ImapMailboxTrigger().check(settings))


def test_a_complete_declaration_has_no_problems() -> None:
    assert problems(host="imap.example.org") == []
    assert problems(host="imap.example.org", port="993", tls="ssl", folder="Rechnungen/Eingang",
                    subjectContains="invoice", subjectPattern=r"(?i)^invoice #\d+",
                    after="move:Done", maxItems="10", maxMessageBytes="1048576",
                    **{"from": "@partner.example"}) == []
    for host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        assert problems(host=host, tls="none") == []


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, "Expected laneway:host"),
    ({"host": "imap example.org"}, "Expected laneway:host to be a host name"),
    ({"host": "user@imap.example.org"}, "Expected laneway:host to be a host name"),
    ({"host": "imap.example.org", "tls": "yes"}, "Expected laneway:tls to be one of"),
    ({"host": "imap.example.org", "tls": "none"}, "only for a server on this machine"),
    ({"host": "10.0.0.8", "tls": "none"}, "only for a server on this machine"),
    ({"host": "h", "port": "0"}, "laneway:port to be a whole number from 1 to 65535"),
    ({"host": "h", "port": "imap"}, "laneway:port to be a whole number"),
    ({"host": "h", "folder": ""}, "laneway:folder to be a folder name"),
    ({"host": "h", "folder": "In\nbox"}, "laneway:folder to be a folder name"),
    ({"host": "h", "after": "delete"}, "'seen', 'none' or 'move:<folder>'"),
    ({"host": "h", "after": "move"}, "'seen', 'none' or 'move:<folder>'"),
    ({"host": "h", "after": "move:"}, "the folder of laneway:after"),
    ({"host": "h", "after": "move:INBOX"}, "another folder than laneway:folder"),
    ({"host": "h", "subjectPattern": r"(a)\1"}, "laneway:subjectPattern: Expected a regular"),
    ({"host": "h", "maxItems": "0"}, "laneway:maxItems to be a whole number from 1 to 1000"),
    ({"host": "h", "maxMessageBytes": "10"}, "laneway:maxMessageBytes"),
])
def test_a_bad_declaration_is_refused_at_deploy(settings: dict[str, str], expected: str) -> None:
    found = problems(**settings)
    assert len(found) == 1, found
    assert expected in found[0]


@pytest.mark.parametrize(("given", "stored"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/report.pdf", "report.pdf"),
    ("..", "attachment"),
    (".bashrc", "bashrc"),
    ("", "attachment"),
    (None, "attachment"),
    ("a\0b\nc\x1b.txt", "a_b_c_.txt"),
    ("Rechnung März (2).pdf", "Rechnung März (2).pdf"),
    ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),  # MAX_FILE_NAME in all
    ("con|nul?<>*:.txt", "con_nul_.txt"),
])
def test_attachment_names_are_made_safe(given: str | None, stored: str) -> None:
    assert _mime.safe_file_name(given) == stored


def test_html_is_read_as_its_text() -> None:
    html = ("<html><head><title>t</title><style>p {color: red}</style></head><body>"
            "<h1>Storm&nbsp;warning</h1><p>Level <b>3</b> &amp; rising</p>"
            "<script>alert(1)</script><ul><li>one</li><li>two</li></ul></body></html>")
    assert _mime.html_to_text(html) == "Storm warning\n\nLevel 3 & rising\n\none\n\ntwo"
    assert len(_mime.html_to_text("<p>" + "a " * 400_000)) <= _mime.MAX_HTML


def test_a_long_text_is_cut_and_said_so() -> None:
    raw = b"Subject: long\r\nContent-Type: text/plain\r\n\r\n" + b"a" * 100_000
    text, truncated = _mime.body_text(_mime.parse(raw))
    assert truncated
    assert _mime.MAX_TEXT - 8 <= len(text) <= _mime.MAX_TEXT
    # bytes as the start command carries them: a control character takes six, 'ü' two
    for char, size in (("\x01", 6), ("ü", 2)):
        raw = (b"Subject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               + (char * 50_000).encode())
        text, truncated = _mime.body_text(_mime.parse(raw))
        assert truncated
        assert _mime.MAX_TEXT * 0.9 < len(json.dumps(text, ensure_ascii=False).encode()) \
            <= _mime.MAX_TEXT
        assert len(text) < _mime.MAX_TEXT // size + 1


def test_folder_names_are_quoted_in_modified_utf7() -> None:
    assert _mailbox("INBOX") == '"INBOX"'
    assert _mailbox("Entwürfe") == '"Entw&APw-rfe"'
    assert _mailbox("R&D") == '"R&-D"'
    assert _mailbox('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert _mailbox("日本語") == '"&ZeVnLIqe-"'


def test_uid_sets_are_ranges() -> None:
    assert _uid_set([3, 1, 2, 7, 9, 10, 10]) == "1:3,7,9:10"
    assert _uid_set([5]) == "5"


def test_the_dedup_key_is_the_message_id_else_the_uid() -> None:
    assert _dedup_key("<a@b>", 7, 3) == "mid:<a@b>"
    assert _dedup_key("", 7, 3) == "uid:7:3"
    long = _dedup_key("<" + "x" * 500 + "@b>", 7, 3)
    assert long.startswith("mid-sha256:")
    assert len(long) == len("mid-sha256:") + 64


def test_parts_nested_past_the_parser_s_depth_fail_cleanly(tmp_path: Path) -> None:
    """The trigger then gives the message with its headers only (imap.py catches it)."""
    depth = 3000
    raw = b"Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" + b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
        for i in range(1, depth))
    with pytest.raises(RecursionError):
        _mime.store_attachments(_mime.parse(raw), tmp_path, 1000)
    assert _mime.header_text(_mime.parse(raw, headers_only=True), "subject") == "deep"
