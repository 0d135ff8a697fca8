"""Unit tests: the runner's own Jupyter wire protocol (signing, parsing) and connection file."""
from __future__ import annotations

import json
import os
import stat

from autograder.sandbox_runner import CHANNELS, WireSession, write_connection_file


class CapturingSocket:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, frames: list[bytes]) -> None:
        self.sent.append(list(frames))


def test_a_sent_message_is_signed_and_reads_back_with_its_id():
    session = WireSession(b"secret-key")
    sock = CapturingSocket()
    msg_id = session.send(sock, "execute_request", {"code": "1 + 1", "silent": False})
    frames = sock.sent[0]
    assert frames[0] == b"<IDS|MSG>" and len(frames) == 6
    header = json.loads(frames[2])
    assert header["msg_id"] == msg_id and header["msg_type"] == "execute_request"
    assert header["session"] == session.session and header["version"].startswith("5.")
    # A reply routed through ZeroMQ carries identities (or a topic) before the delimiter.
    msg = session.deserialize([b"some-identity", *frames])
    assert msg["msg_type"] == "execute_request" and msg["content"]["code"] == "1 + 1"
    assert msg["header"]["msg_id"] == msg_id


def _reply(session: WireSession, parent_id: str, content: dict) -> list[bytes]:
    parts = [json.dumps(p).encode() for p in ({"msg_id": "r1", "msg_type": "execute_reply"},
                                              {"msg_id": parent_id}, {}, content)]
    return [b"<IDS|MSG>", session.sign(parts), *parts]


def test_a_kernel_reply_is_parsed_with_its_parent():
    session = WireSession(b"k")
    msg = session.deserialize(_reply(session, "abc", {"status": "ok"}))
    assert msg["parent_header"]["msg_id"] == "abc" and msg["content"] == {"status": "ok"}


def test_unsigned_tampered_or_malformed_messages_are_dropped():
    session = WireSession(b"k")
    good = _reply(session, "abc", {"status": "ok"})
    tampered = list(good)
    tampered[5] = json.dumps({"status": "error"}).encode()
    assert session.deserialize(tampered) is None
    assert WireSession(b"other-key").deserialize(good) is None
    assert session.deserialize(good[1:]) is None  # no delimiter
    assert session.deserialize(good[:4]) is None  # cut short
    parts = [b"[]", b"{}", b"{}", b"{}"]
    assert session.deserialize([b"<IDS|MSG>", session.sign(parts), *parts]) is None  # header not an object


def test_the_connection_file_is_private_and_names_five_distinct_ports(tmp_path):
    path = tmp_path / "kernel.json"
    info = write_connection_file(str(path), b"0123abcd")
    on_disk = json.loads(path.read_text())
    assert on_disk == info and on_disk["key"] == "0123abcd"
    assert on_disk["ip"] == "127.0.0.1" and on_disk["signature_scheme"] == "hmac-sha256"
    ports = [on_disk[name] for name in CHANNELS]
    assert len(set(ports)) == 5 and all(1024 <= p < 65536 for p in ports)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
