#!/usr/bin/env python3
"""Write the seed corpus of fuzz_tls_conn into a directory (default fuzz/corpus_tls).

Each seed is: one mode byte (see fuzz_tls_conn.c: byte % 3 is the mode, bit 2
caps the client at TLS 1.2), four bytes seeding the chunk sizes, then the
payload. ClientHellos come from Python's own ssl module through memory BIOs,
so no network and no files are needed. Deterministic except for the random
parts of each ClientHello.
"""
import os
import ssl
import sys

RAW, HS_RAW, ECHO = 0, 1, 2
TLS12 = 4


def client_hello(maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def seed(mode, rng, payload):
    return bytes([mode]) + rng.to_bytes(4, "big") + payload


def seeds():
    ch13 = client_hello()
    ch12 = client_hello(ssl.TLSVersion.TLSv1_2)
    yield "raw_clienthello_tls13", seed(RAW, 1, ch13)
    yield "raw_clienthello_tls12", seed(RAW, 0x9E3779B9, ch12)
    yield "raw_clienthello_bytewise", seed(RAW, 0x10000, ch13)
    yield "raw_clienthello_truncated", seed(RAW, 7, ch13[:40])
    yield "raw_clienthello_twice", seed(RAW, 3, ch12 + ch12)
    yield "raw_handshake_huge_length", seed(RAW, 5, b"\x16\x03\x01\xff\xff\x01\xff\xff\xff")
    yield "raw_alert_first", seed(RAW, 9, b"\x15\x03\x03\x00\x02\x02\x28")
    yield "raw_ccs_first", seed(RAW, 11, b"\x14\x03\x03\x00\x01\x01")
    yield "raw_appdata_first", seed(RAW, 13, b"\x17\x03\x03\x00\x05hello")
    yield "raw_sslv2_hello", seed(RAW, 15, b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + b"\x00" * 37)
    yield "raw_plaintext_get", seed(RAW, 17, b"get foo\r\n")
    yield "raw_plaintext_set", seed(RAW, 19, b"set a 0 0 1\r\nx\r\n")
    yield "raw_http", seed(RAW, 21, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    yield "raw_nul", seed(RAW, 23, b"\x00" * 16)
    yield "raw_empty", seed(RAW, 25, b"")
    yield "hsraw_garbage", seed(HS_RAW, 27, bytes(range(256)))
    yield "hsraw_appdata_bad_mac", seed(HS_RAW, 29, b"\x17\x03\x03\x00\x20" + b"\xaa" * 32)
    yield "hsraw_plain_alert", seed(HS_RAW, 31, b"\x15\x03\x03\x00\x02\x01\x00")
    yield "hsraw_heartbeat", seed(HS_RAW, 33, b"\x18\x03\x03\x00\x03\x01\x40\x00")
    yield "hsraw_renegotiate_hello_tls12", seed(HS_RAW | TLS12, 35, ch12)
    yield "hsraw_record_too_long", seed(HS_RAW, 37, b"\x17\x03\x03\x48\x01" + b"\x00" * 64)
    yield "echo_get", seed(ECHO, 39, b"get foo\r\n")
    yield "echo_pipeline", seed(ECHO, 41, b"set a 0 0 1\r\nx\r\nget a\r\n" * 40)
    yield "echo_tls12", seed(ECHO | TLS12, 43, b"version\r\n" * 100)
    yield "echo_one_byte", seed(ECHO, 45, b"x")
    yield "echo_empty", seed(ECHO, 47, b"")
    yield "echo_20k", seed(ECHO, 49, bytes((i * 7) & 0xFF for i in range(20000)))
    yield "echo_20k_tls12", seed(ECHO | TLS12, 51, bytes((i * 13) & 0xFF for i in range(20000)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus_tls")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
