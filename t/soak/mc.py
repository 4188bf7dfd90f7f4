"""Soak test helpers: a blocking memcached client and self-checking values.

Every value the soak writes says what it is: the key it was written for,
the writer, a sequence number, its length and flags, then a body and a CRC
over all of it. A read can therefore be judged on its own: a value that
belongs to another key, was cut short, mixed with other bytes or carries the
wrong flags fails check_value() without any bookkeeping about who wrote last.

Values grown with append/prepend are a run of such records, each closed by
';', so every record of an appended value is checked the same way.

Python standard library only.
"""

import socket
import ssl
import struct
import zlib


class ProtocolError(Exception):
    """The server answered something the protocol does not allow here."""


class BadValue(Exception):
    """A value read back is not one that was written for this key."""


# ---------------------------------------------------------------- values

def _body(c, size):
    pat = struct.pack("<IIII", c, c ^ 0x5BD1E995, ~c & 0xFFFFFFFF, (c * 2654435761) & 0xFFFFFFFF)
    return (pat * (size // 16 + 1))[:size]


def make_value(key, writer, seq, size, flags=0):
    """A self-describing value of about size bytes for key."""
    head = b"%s|%d|%d|%d|%d|" % (key, writer, seq, size, flags)
    c = zlib.crc32(head)
    body = _body(c, size)
    return head + body + b"|%08x" % zlib.crc32(body, c)


def _parse_record(key, data, pos):
    """Check one record at data[pos:]; return (writer, seq, flags, end)."""
    fields = []
    start = pos
    for _ in range(5):
        bar = data.find(b"|", pos)
        if bar < 0:
            raise BadValue("truncated header")
        fields.append(data[pos:bar])
        pos = bar + 1
    k, w, s, size, fl = fields
    if k != key:
        raise BadValue("value of key %r read for key %r" % (k[:60], key))
    try:
        writer, seq, size, flags = int(w), int(s), int(size), int(fl)
    except ValueError:
        raise BadValue("corrupt header %r" % data[start:pos][:80])
    end = pos + size + 9
    if size < 0 or end > len(data):
        raise BadValue("truncated value (%d of %d bytes)" % (len(data) - start, end - start))
    c = zlib.crc32(data[start:pos])
    if data[pos + size:end] != b"|%08x" % zlib.crc32(data[pos:pos + size], c):
        raise BadValue("checksum mismatch (writer %d seq %d)" % (writer, seq))
    return writer, seq, flags, end


def check_value(key, data, flags=None):
    """Raise BadValue unless data is exactly one value written for key; return (writer, seq)."""
    writer, seq, vflags, end = _parse_record(key, data, 0)
    if end != len(data):
        raise BadValue("%d trailing bytes after the value" % (len(data) - end))
    if flags is not None and flags != vflags:
        raise BadValue("flags %d returned, %d written" % (flags, vflags))
    return writer, seq


def make_record(key, writer, seq, size):
    """One record of an append-built value."""
    return make_value(key, writer, seq, size, 0) + b";"


def check_records(key, data):
    """Raise BadValue unless data is a run of whole records for key; return their count."""
    pos = n = 0
    while pos < len(data):
        _, _, _, end = _parse_record(key, data, pos)
        if data[end:end + 1] != b";":
            raise BadValue("record not terminated at offset %d" % end)
        pos = end + 1
        n += 1
    if n == 0:
        raise BadValue("empty appended value")
    return n


# ---------------------------------------------------------------- connection

class Conn:
    """One blocking connection, plain or TLS, with a timeout on every call."""

    MAX_LINE = 65536

    def __init__(self, port, tls_ctx=None, timeout=20.0, rcvbuf=None, host="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls_ctx is not None:
                s = tls_ctx.wrap_socket(s, server_hostname=host)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = bytearray()
        self.is_tls = tls_ctx is not None

    def peer_cert_digest(self):
        if not self.is_tls:
            return None
        der = self.sock.getpeercert(binary_form=True)
        return zlib.crc32(der) if der else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > self.MAX_LINE:
                raise ProtocolError("reply line longer than %d bytes" % self.MAX_LINE)
            self._fill()

    def readexact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_value_block(self, n):
        data = self.readexact(n + 2)
        if data[-2:] != b"\r\n":
            raise ProtocolError("value not followed by CRLF")
        return data[:-2]

    # ------------------------------------------------------------ commands

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.readline()

    def read_values(self):
        """Read VALUE blocks up to END: list of (key, flags, data, cas or None)."""
        out = []
        while True:
            line = self.readline()
            if line == b"END":
                return out
            parts = line.split()
            if len(parts) not in (4, 5) or parts[0] != b"VALUE":
                raise ProtocolError("unexpected retrieval line %r" % line[:100])
            data = self.read_value_block(int(parts[3]))
            cas = int(parts[4]) if len(parts) == 5 else None
            out.append((parts[1], int(parts[2]), data, cas))

    def store(self, verb, key, value, flags=0, exptime=0, cas=None, noreply=False):
        line = b"%s %s %d %d %d" % (verb, key, flags, exptime, len(value))
        if cas is not None:
            line += b" %d" % cas
        if noreply:
            line += b" noreply"
        self.send(line + b"\r\n" + value + b"\r\n")
        return None if noreply else self.readline()

    def meta_get(self, key, flags=b"v f c"):
        """mg: None on miss, else (data or None, {flag letter: text})."""
        self.send(b"mg %s %s\r\n" % (key, flags))
        line = self.readline()
        parts = line.split()
        if parts and parts[0] == b"EN":
            # A miss still echoes the k and O flags, as memcached does.
            for p in parts[1:]:
                if p[:1] == b"k" and p[1:] != key:
                    raise ProtocolError("mg miss for %r names key %r" % (key, p[1:]))
            return None
        if parts[0] == b"VA":
            ret = {p[:1]: p[1:] for p in parts[2:]}
            return self.read_value_block(int(parts[1])), ret
        if parts[0] == b"HD":
            return None, {p[:1]: p[1:] for p in parts[1:]}
        raise ProtocolError("unexpected mg reply %r" % line[:100])

    def meta_set(self, key, value, flags=0, cas=None, ttl=None):
        line = b"ms %s %d F%d" % (key, len(value), flags)
        if cas is not None:
            line += b" C%d" % cas
        if ttl is not None:
            line += b" T%d" % ttl
        self.send(line + b"\r\n" + value + b"\r\n")
        return self.readline()

    def stats(self, sub=b""):
        self.send(b"stats %s\r\n" % sub if sub else b"stats\r\n")
        out = {}
        while True:
            line = self.readline()
            if line == b"END":
                return out
            parts = line.split(b" ", 2)
            if parts[0] != b"STAT" or len(parts) != 3:
                raise ProtocolError("unexpected stats line %r" % line[:100])
            out[parts[1].decode()] = parts[2].decode()


def tls_context(ca_file, max_version=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.check_hostname = True
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def client_hello():
    """The first flight of a real TLS client, for faults that send part of it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()
