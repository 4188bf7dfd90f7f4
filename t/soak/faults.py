"""Soak test: hostile and broken clients, and certificate rotation.

Each injector is a thread that runs until the soak's stop event and counts
what it did in Shared.faults (by kind) and what the server must therefore
count in Shared.notes:

  expected_hs_errors   TLS connections that never finish a handshake; each
                       must show up in ssl_handshake_errors exactly once;
  stalled_closed       stalled handshakes the server closed (by the timeout);
  uncertain_get_keys   keys of complete gets whose replies are never read
                       (counted in cmd_get, hit or miss unknown);
  too_large            sets above the item size limit (store_too_large).

Timing checks made here: bytes that cannot be TLS on the TLS port are
rejected at once (well inside the handshake timeout), stalled handshakes are
closed near the timeout and never long after, a client that never reads a
~50 MB multi-get is closed while the server keeps serving, and an oversized
request line is refused instead of buffered without bound.
"""

import os
import random
import select
import shutil
import signal
import socket
import ssl
import struct
import threading
import time

from mc import Conn, ProtocolError, client_hello, make_value

NO_LETTERS = bytes(b for b in range(256) if not (0x61 <= b <= 0x7A))


def raw_connect(port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def abort(sock):
    """Close with a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def wait_closed(sock, timeout):
    """Read and drop until the peer closes; (closed, seconds, bytes read)."""
    t0 = time.monotonic()
    n = 0
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return False, timeout, n
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True, time.monotonic() - t0, n
        except (socket.timeout, TimeoutError):
            return False, timeout, n
        if not chunk:
            return True, time.monotonic() - t0, n
        n += len(chunk)


class Injector(threading.Thread):
    def __init__(self, sh, name, seed):
        super().__init__(name=name, daemon=True)
        self.sh = sh
        self.rng = random.Random(seed)

    def count(self, kind, n=1):
        with self.sh.lock:
            self.sh.faults[kind] += n

    def note(self, what, n=1):
        with self.sh.lock:
            self.sh.notes[what] += n

    def pause(self, lo, hi):
        self.sh.stop.wait(self.rng.uniform(lo, hi))

    def run(self):
        while not self.sh.stop.is_set():
            try:
                self.step()
            except (OSError, EOFError, ProtocolError, ssl.SSLError) as e:
                if not self.sh.stop.is_set():
                    self.sh.fail("%s: %r" % (self.name, e))
                self.pause(0.2, 0.5)


# ---------------------------------------------------------------- TLS port

class HandshakeFaults(Injector):
    """Broken handshakes, garbage and plaintext on the TLS port."""

    def __init__(self, sh, seed):
        super().__init__(sh, "handshake-faults", seed)
        self.hello = client_hello()
        self.kinds = [self.partial_hello, self.connect_close, self.not_tls, self.hello_then_junk]

    def step(self):
        self.rng.choice(self.kinds)()
        self.note("expected_hs_errors")
        with self.sh.lock:
            self.sh.counts["connections"] += 1
        self.pause(0.01, 0.08)

    def partial_hello(self):
        s = raw_connect(self.sh.tls_port)
        s.sendall(self.hello[:self.rng.randrange(1, len(self.hello))])
        if self.rng.random() < 0.5:
            abort(s)
            self.count("tls: partial ClientHello, then RST")
        else:
            s.close()
            self.count("tls: partial ClientHello, then FIN")

    def connect_close(self):
        s = raw_connect(self.sh.tls_port)
        s.close()
        self.count("tls: connect and close, no bytes")

    def not_tls(self):
        kind, data = self.rng.choice([
            ("plaintext command", b"get foo\r\n"),
            ("HTTP request", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
            ("binary garbage", bytes(self.rng.randrange(256) for _ in range(64))),
            ("SSLv2-style hello", b"\x80\x2e\x01\x00\x02" + bytes(41)),
        ])
        if data[0] == 0x16:
            data = b"\x00" + data
        s = raw_connect(self.sh.tls_port)
        s.sendall(data)
        closed, secs, _ = wait_closed(s, 5.0)
        s.close()
        self.count("tls: " + kind)
        self.sh.timings["not-TLS bytes rejected after (s)"].append(secs)
        if not closed:
            self.sh.fail("TLS port kept a connection that sent %s for 5 s" % kind)

    def hello_then_junk(self):
        s = raw_connect(self.sh.tls_port)
        s.sendall(self.hello + bytes(self.rng.randrange(256) for _ in range(200)))
        closed, secs, _ = wait_closed(s, 5.0)
        s.close()
        self.count("tls: ClientHello, then junk records")
        self.sh.timings["junk after ClientHello rejected after (s)"].append(secs)
        if not closed:
            self.sh.fail("TLS port kept a connection that sent junk records for 5 s")


class StalledHandshakes(Injector):
    """Clients that open TLS and stall, or trickle a ClientHello."""

    MAX_OPEN = 12

    def __init__(self, sh, seed, timeout):
        super().__init__(sh, "stalled-handshakes", seed)
        self.timeout = timeout
        self.hello = client_hello()
        self.open = []  # [sock, kind, t0, next_byte_at, sent]

    def step(self):
        now = time.monotonic()
        if len(self.open) < self.MAX_OPEN:
            self.open_one(now)
        socks = [o[0] for o in self.open]
        readable, _, _ = select.select(socks, [], [], 0.1)
        for o in list(self.open):
            if o[0] in readable:
                self.check_closed(o)
            elif o[1] == "trickled ClientHello" and now >= o[3]:
                self.trickle(o, now)
            elif now - o[2] > self.timeout + 6:
                self.sh.fail("stalled handshake (%s) still open after %.1f s" % (o[1], now - o[2]))
                self.finish(o)
        self.pause(0.05, 0.2)

    def open_one(self, now):
        kind = self.rng.choice(["silent", "partial ClientHello", "trickled ClientHello"])
        s = raw_connect(self.sh.tls_port)
        sent = 0
        if kind == "partial ClientHello":
            sent = self.rng.randrange(1, 60)
            s.sendall(self.hello[:sent])
        s.setblocking(False)
        self.open.append([s, kind, now, now, sent])
        self.count("tls stalled: " + kind)
        self.note("expected_hs_errors")
        with self.sh.lock:
            self.sh.counts["connections"] += 1

    def trickle(self, o, now):
        try:
            o[0].send(self.hello[o[4]:o[4] + 1])
            o[4] += 1
        except OSError:
            pass
        o[3] = now + 0.4

    def check_closed(self, o):
        try:
            data = o[0].recv(4096)
        except (ConnectionResetError, BlockingIOError):
            data = b""
        if data:
            return  # an alert; the close follows
        secs = time.monotonic() - o[2]
        self.sh.timings["stalled handshake closed after (s)"].append(secs)
        self.note("stalled_closed")
        if secs < self.timeout - 1.1:
            self.sh.fail("stalled handshake (%s) closed after %.2f s, before the %d s timeout"
                         % (o[1], secs, self.timeout))
        self.finish(o)

    def finish(self, o):
        o[0].close()
        self.open.remove(o)

    def run(self):
        super().run()
        for o in list(self.open):
            self.finish(o)
            self.note("stalled_closed_by_client")


# ---------------------------------------------------------------- commands

class CommandFaults(Injector):
    """Clients that vanish mid-command, mid-value or mid-reply, and garbage."""

    def __init__(self, sh, seed, use_tls, wid):
        super().__init__(sh, "command-faults-" + ("tls" if use_tls else "plain"), seed)
        self.use_tls = use_tls
        self.wid = wid
        self.seq = 0
        self.tag = "tls" if use_tls else "plain"
        self.kinds = [self.mid_command, self.mid_value, self.full_value, self.mid_reply,
                      self.too_large, self.long_line]
        if not use_tls:
            self.kinds += [self.garbage, self.tls_to_plain]

    def step(self):
        self.rng.choice(self.kinds)()
        self.pause(0.01, 0.1)

    def conn(self):
        c = self.sh.connect(self.use_tls)
        self.count_conn()
        return c

    def count_conn(self):
        with self.sh.lock:
            self.sh.counts["connections"] += 1

    def close(self, c):
        if self.rng.random() < 0.5:
            abort(c.sock)
            return "RST"
        c.close()
        return "FIN"

    def x_value(self):
        self.seq += 1
        key = b"x:%d" % self.rng.randrange(8)
        return key, make_value(key, self.wid, self.seq, self.rng.randrange(10, 20000))

    def mid_command(self):
        c = self.conn()
        line = self.rng.choice([b"get s:1 s:2 s:3", b"set x:1 0 0 10", b"mg s:1 v", b"incr n:1"])
        c.send(line[:self.rng.randrange(1, len(line))])
        how = self.close(c)
        self.count("%s: disconnect mid-command (%s)" % (self.tag, how))

    def mid_value(self):
        c = self.conn()
        key, value = self.x_value()
        c.send(b"set %s 0 0 %d\r\n" % (key, len(value)) + value[:self.rng.randrange(len(value))])
        how = self.close(c)
        self.count("%s: disconnect mid-value (%s)" % (self.tag, how))

    def full_value(self):
        c = self.conn()
        key, value = self.x_value()
        got = c.store(b"set", key, value)
        if got != b"STORED":
            self.sh.fail("%s: set of %r answered %r" % (self.name, key, got))
        with self.sh.lock:
            self.sh.counts["set_cmds"] += 1
        c.close()

    def mid_reply(self):
        c = self.conn()
        keys = [b"s:%d" % self.rng.randrange(400) for _ in range(40)]
        c.send(b"get %s\r\n" % b" ".join(keys))
        c.close()  # a FIN: a RST could discard the request before it runs
        self.note("uncertain_get_keys", len(keys))
        self.count("%s: disconnect before reading a 40-key reply" % self.tag)

    def too_large(self):
        c = self.conn()
        size = 2 * 1024 * 1024
        c.send(b"set x:big 0 0 %d\r\n" % size)
        c.send(b"\0" * size + b"\r\nversion\r\n")
        got = c.readline()
        if not got.startswith(b"SERVER_ERROR object too large"):
            self.sh.fail("%s: 2 MB set answered %r" % (self.name, got))
        if not c.readline().startswith(b"VERSION "):
            self.sh.fail("%s: no VERSION after a swallowed 2 MB value" % self.name)
        self.note("too_large")
        self.count("%s: 2 MB value above -I, swallowed" % self.tag)
        c.close()

    def long_line(self):
        """A request line the server must refuse rather than buffer (get + 3 MB of keys)."""
        c = self.conn()
        c.sock.settimeout(10)
        t0 = time.monotonic()
        try:
            c.send(b"get " + b"k " * (1536 * 1024))
            closed, _, _ = wait_closed(c.sock, 5.0)
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        except ssl.SSLError:
            closed = True
        self.sh.timings["3 MB request line refused after (s)"].append(time.monotonic() - t0)
        c.close()
        self.count("%s: 3 MB request line without newline" % self.tag)
        if not closed:
            self.sh.fail("%s: a 3 MB request line was buffered, not refused" % self.name)

    def garbage(self):
        s = raw_connect(self.sh.plain_port)
        self.count_conn()
        s.sendall(bytes(self.rng.choice(NO_LETTERS) for _ in range(self.rng.randrange(1, 3000))))
        wait_closed(s, 0.3)
        abort(s) if self.rng.random() < 0.5 else s.close()
        self.count("plain: binary garbage")

    def tls_to_plain(self):
        s = raw_connect(self.sh.plain_port)
        self.count_conn()
        s.sendall(client_hello())
        wait_closed(s, 0.3)
        s.close()
        self.count("plain: TLS ClientHello to the plain port")


# ---------------------------------------------------------------- big reader

class BigGetter(Injector):
    """A client that asks for ~50 MB and never reads: it must be closed."""

    def __init__(self, sh, seed, admin_port, nkeys, value_len, overflow_stat):
        super().__init__(sh, "big-getter", seed)
        self.admin_port = admin_port
        self.nkeys = nkeys
        self.value_len = value_len
        self.overflow_stat = overflow_stat
        self.round = 0

    def overflow_count(self, admin):
        if self.overflow_stat is None:
            return 0
        return int(admin.stats().get(self.overflow_stat, 0))

    def step(self):
        self.pause(3, 6)
        if self.sh.stop.is_set():
            return
        use_tls = self.round % 2 == 1
        self.round += 1
        admin = Conn(self.admin_port)
        before = self.overflow_count(admin)
        c = self.sh.connect(use_tls, rcvbuf=32768)
        with self.sh.lock:
            self.sh.counts["connections"] += 2
        keys = b" ".join(b"big:%d" % (i % 4) for i in range(self.nkeys))
        c.send(b"get %s\r\n" % keys)
        self.note("uncertain_get_keys", self.nkeys)
        total = self.nkeys * (self.value_len + 40)
        t0 = time.monotonic()
        # Do not read: wait until the server gives up on us (or 15 s).
        while time.monotonic() - t0 < 15 and not self.sh.stop.is_set():
            if self.overflow_stat is not None and self.overflow_count(admin) > before:
                break
            self.sh.stop.wait(0.5 if self.overflow_stat is not None else 8)
            if self.overflow_stat is None:
                break
        waited = time.monotonic() - t0
        if self.sh.stop.is_set():
            c.close()  # the run ended while we waited: no verdict
            admin.close()
            return
        closed, _, got = wait_closed(c.sock, 20.0)
        c.close()
        admin.close()
        tag = "tls" if use_tls else "plain"
        self.count("%s: ~%d MB multi-get never read" % (tag, total >> 20))
        if closed and got < total:
            self.note("big_get_closed")
            self.sh.timings["non-reading client closed after (s)"].append(waited)
        elif not self.sh.stop.is_set():
            self.sh.fail("%s: a client that never read its %d MB multi-get was not closed "
                         "(read %d bytes after %.1f s)" % (tag, total >> 20, got, waited))


# ---------------------------------------------------------------- certificates

class Rotator(Injector):
    """Swap the server certificate every few seconds (refresh_certs or SIGHUP)."""

    def __init__(self, sh, seed, certs, active, pid, every):
        super().__init__(sh, "cert-rotator", seed)
        self.certs = certs
        self.active_crt, self.active_key = active
        self.pid = pid
        self.every = every
        self.n = 0

    def install(self, crt, key):
        for src, dst in ((key, self.active_key), (crt, self.active_crt)):
            tmp = dst + ".tmp"
            shutil.copyfile(os.path.join(self.certs, src), tmp)
            os.replace(tmp, dst)

    def refresh(self):
        c = Conn(self.sh.plain_port)
        with self.sh.lock:
            self.sh.counts["connections"] += 1
        got = c.cmd(b"refresh_certs")
        c.close()
        return got

    def step(self):
        self.pause(self.every * 0.7, self.every * 1.3)
        if self.sh.stop.is_set():
            return
        self.n += 1
        pair = ("server_crt.pem", "server_key.pem") if self.n % 2 else \
            ("server2_crt.pem", "server2_key.pem")
        if self.n % 5 == 0:
            self.bad_rotation(pair[0])
        self.install(*pair)
        if self.rng.random() < 0.5:
            got = self.refresh()
            if got != b"OK":
                self.sh.fail("refresh_certs with a good certificate answered %r" % got)
            self.count("certs: rotated by refresh_certs")
        else:
            os.kill(self.pid, signal.SIGHUP)
            self.count("certs: rotated by SIGHUP")

    def bad_rotation(self, crt):
        """A key that matches no certificate: refused, the old context keeps serving."""
        self.install(crt, "mismatch_key.pem")
        got = self.refresh()
        if got == b"OK":
            self.sh.fail("refresh_certs accepted a key that does not match the certificate")
        self.count("certs: bad key refused by refresh_certs")
        os.kill(self.pid, signal.SIGHUP)
        self.count("certs: bad key refused by SIGHUP")
        time.sleep(0.2)
