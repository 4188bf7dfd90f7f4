"""Soak test, last phases: servers whose mallocs fail.

Two ways, one server each:

  rlimit  RLIMIT_AS a few megabytes above the address space the server uses
          when idle, and -m 1024: every slab page allocation fails (glibc still
          serves small blocks from its arenas), so stores run out of memory;
  inject  t/soak/failmalloc.c preloaded: one malloc/calloc/realloc in N
          fails, anywhere (read buffers, reply blocks, OpenSSL, libevent).

Plain and TLS clients store checked values and read 30-key multi-gets
meanwhile, reconnecting now and then (new TLS sessions need memory too).

Allowed: STORED or a SERVER_ERROR ... out of memory reply for a store, a
SERVER_ERROR for a get, a connection closed or a TLS session failed by the
server (counted: that request was lost, nothing else). Not allowed: the
server dying, any other reply, a value that is not one written for its key.
Afterwards the server must still answer on a new connection and exit with
status 0 on SIGTERM.
"""

import collections
import os
import random
import re
import resource
import ssl
import threading
import time

from mc import BadValue, Conn, ProtocolError, check_value, make_value


def vm_size_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    return 0


class Starved:
    def __init__(self, server_cls, args, certs, headroom_mb, seconds, clients, inject=None):
        self.inject = inject  # (path to failmalloc.so, one in N) or None for rlimit
        self.args = args
        self.certs = certs
        self.headroom_mb = headroom_mb
        self.seconds = seconds
        self.nclients = clients
        self.server_cls = server_cls
        self.res = collections.Counter()
        self.failures = []
        self.lock = threading.Lock()

    def bad(self, msg):
        with self.lock:
            self.res["failures"] += 1
            if len(self.failures) < 10:
                self.failures.append(msg)

    def start_server(self):
        """rlimit: start once to learn the idle address space, then again under the cap."""
        a = self.args
        if self.inject:
            srv = self.server_cls(a, self.certs)
            srv.env = dict(os.environ, LD_PRELOAD=self.inject[0],
                           FAILMALLOC_ONE_IN=str(self.inject[1]), FAILMALLOC_AFTER="20000")
            srv.start()
            self.cap_mb = 0
            return srv
        srv = self.server_cls(a, self.certs)
        srv.extra = ["-m", "1024"]
        srv.start()
        size = vm_size_kb(srv.proc.pid)
        srv.stop()
        cap = (size + self.headroom_mb * 1024) * 1024
        srv = self.server_cls(a, self.certs)
        srv.extra = ["-m", "1024"]
        srv.preexec = lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        srv.start()
        self.cap_mb = cap >> 20
        return srv

    def client(self, srv, i, ctx, stop):
        rng = random.Random(i)
        c = None
        seq = 0
        while time.monotonic() < stop:
            try:
                if c is None or rng.random() < 0.03:
                    if c is not None:
                        c.close()
                    c = Conn(srv.tls_port if i % 2 else srv.plain_port, ctx if i % 2 else None,
                             timeout=15)
                    self.res["connections"] += 1
                if rng.random() < 0.5:
                    seq += 1
                    key = b"m:%d" % rng.randrange(300)
                    got = c.store(b"set", key, make_value(key, i, seq, rng.randrange(100, 400000)))
                    if got == b"STORED":
                        self.res["stored"] += 1
                    elif got.startswith(b"SERVER_ERROR") and b"memory" in got:
                        self.res["SERVER_ERROR out of memory (store)"] += 1
                    else:
                        raise ProtocolError("set answered %r" % got[:80])
                else:
                    self.multiget(c, rng)
            except BadValue as e:
                self.bad("client %d: BAD VALUE %s" % (i, e))
                c = None
            except (EOFError, ConnectionError, ssl.SSLError) as e:
                self.res["connections closed or TLS sessions failed"] += 1
                self.res["  %s" % (getattr(e, "reason", None) or type(e).__name__)] += 1
                c = None
            except (OSError, ProtocolError) as e:
                self.bad("client %d: %r" % (i, e))
                c = None
        if c is not None:
            c.close()

    def multiget(self, c, rng):
        keys = [b"m:%d" % rng.randrange(300) for _ in range(30)]
        c.send(b"get %s\r\n" % b" ".join(keys))
        first = c.readline()
        if first.startswith(b"SERVER_ERROR"):
            self.res["SERVER_ERROR (get)"] += 1
            return
        c.buf[:0] = first + b"\r\n"
        for key, _, data, _ in c.read_values():
            check_value(key, data)
            self.res["values read and checked"] += 1

    def run(self, chk):
        try:
            srv = self.start_server()
        except SystemExit as e:
            tag = "injected malloc failures" if self.inject else "RLIMIT_AS"
            chk.add("%s: server starts" % tag, False, str(e)[:200])
            return {"tag": tag, "cap_mb": 0, "headroom_mb": self.headroom_mb, "failed": "",
                    "counts": self.res, "stats": collections.defaultdict(lambda: None)}
        ca = os.path.join(self.certs, "ca_crt.pem")
        ctx = ssl.create_default_context(cafile=ca)
        stop = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self.client, args=(srv, i, ctx, stop), daemon=True)
                   for i in range(self.nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.seconds + 60)
        alive = srv.proc.poll() is None
        stats, ok = self.after(srv) if alive else ({}, False)
        status = srv.stop()
        tag = "injected malloc failures" if self.inject else "RLIMIT_AS"
        chk.add("%s: server alive" % tag, alive,
                "" if alive else "exit status %s" % srv.proc.returncode)
        chk.add("%s: serves a new connection afterwards" % tag, ok)
        chk.add("%s: only allowed replies, no bad value" % tag, self.res["failures"] == 0,
                "; ".join(self.failures[:3]))
        m = re.search(r"failmalloc: (\d+) of (\d+) calls failed", srv.log())
        failed = int(m.group(1)) if m else int(stats.get("malloc_fails", 0))
        chk.add("%s: malloc really failed" % tag, failed > 0,
                m.group(0) if m else "malloc_fails %s" % stats.get("malloc_fails"))
        chk.add("%s: clean exit on SIGTERM" % tag, status == 0, "status %s" % status)
        return {"tag": tag, "cap_mb": self.cap_mb, "headroom_mb": self.headroom_mb,
                "failed": m.group(0) if m else "", "counts": self.res,
                "stats": {k: stats.get(k) for k in ("malloc_fails", "read_buf_oom", "evictions",
                                                     "total_connections")}}

    def after(self, srv):
        """A new connection and `stats`; with injection a try may itself fail, so retry."""
        for _ in range(10):
            try:
                a = Conn(srv.plain_port)
                ok = a.cmd(b"version").startswith(b"VERSION ")
                stats = a.stats()
                a.close()
                return stats, ok
            except (OSError, EOFError, ssl.SSLError, ProtocolError):
                time.sleep(0.2)
        return {}, False
