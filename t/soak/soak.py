#!/usr/bin/env python3
"""Soak test: many plain and TLS clients plus hostile ones against ./memcached.

Started by t/soak/run.sh (which makes the certificates); bounded by --seconds
and --max-ops. One server listens on a plain and a TLS port of 127.0.0.1.
For the run's length, well-behaved clients (workload.py) do random
get/set/cas/incr/append/meta traffic with self-checking values, while the
injectors (faults.py) break handshakes, stall them, vanish mid-command,
mid-value and mid-reply, send garbage and plaintext to the TLS port, ask for
~50 MB and never read it, send oversized lines, and rotate the certificate by
refresh_certs and SIGHUP. A monitor samples RSS, connection count and the
latency of a `version` round trip every second.

Afterwards it checks: the server never died and exits cleanly on SIGTERM;
no client saw an error or a value that was not written for its key; CAS
never let two writers win the same version; counters add up; the server's
`stats` equal what the clients did; RSS stayed under the stated bound; every
connection was closed; and a connection flood past -c is refused the way
memcached refuses it while the server keeps serving. It prints a summary
table and exits 1 if any check failed.
"""

import argparse
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import (BigGetter, CommandFaults, HandshakeFaults, Rotator,  # noqa: E402
                    StalledHandshakes, raw_connect)
from mc import Conn, check_value, make_value, tls_context  # noqa: E402
from starved import Starved  # noqa: E402
from workload import DECR_START, N_CAS, N_COUNTERS, Client, Filler, Shared  # noqa: E402

MB = 1024 * 1024
BIG_KEYS = 4
BIG_VALUE = 900 * 1024
BIG_GET_KEYS = 60            # 60 x 900 KB: a ~53 MB reply
PER_CONN_KB = 64             # stated RSS bound per open connection
RSS_BASE_MB = 24             # code, libraries, hash table, thread stacks, allocator slack


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default="./memcached")
    p.add_argument("--certs", required=True, help="directory made by t/gen-certs.sh")
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--clients", type=int, default=12, help="well-behaved clients (half TLS)")
    p.add_argument("--idle", type=int, default=120, help="idle connections held open (half TLS)")
    p.add_argument("--max-ops", type=int, default=2000000, help="operations per client at most")
    p.add_argument("--memory", type=int, default=64, help="-m for the server, MB")
    p.add_argument("--maxconns", type=int, default=600, help="-c for the server")
    p.add_argument("--threads", type=int, default=4, help="-t for the server")
    p.add_argument("--handshake-timeout", type=int, default=2)
    p.add_argument("--rotate-every", type=float, default=3.0, help="seconds between cert rotations")
    p.add_argument("--fill-rate", type=float, default=1.0,
                   help="MB/s of fresh large values (fills -m, forces evictions)")
    p.add_argument("--starved-seconds", type=int, default=20,
                   help="length of the failing-malloc phase (0 = skip)")
    p.add_argument("--starved-headroom", type=int, default=6,
                   help="MB of address space above idle for the failing-malloc server")
    p.add_argument("--failmalloc", help="failmalloc.so (built by run.sh) for the injected phase")
    p.add_argument("--failmalloc-one-in", type=int, default=1000)
    p.add_argument("--no-rss-check", action="store_true",
                   help="report RSS but do not judge it (sanitizer builds; found automatically)")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--server-arg", action="append", default=[], help="extra server argument")
    return p.parse_args()


def is_sanitized(path, depth=0):
    """ASan/TSan builds map shadow memory: their RSS says nothing about ours.
    A wrapper script counts as sanitized when a file it names is."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    if any(m in data for m in (b"__asan_init", b"__tsan_init", b"__msan_init")):
        return True
    if data.startswith(b"#!") and depth == 0:
        for name in re.findall(rb"(/[\w./+-]+)", data):
            if os.path.isfile(name) and is_sanitized(name.decode(), 1):
                return True
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- server

class Server:
    def __init__(self, args, workdir):
        self.args = args
        self.plain_port = free_port()
        self.tls_port = free_port()
        self.active = (os.path.join(workdir, "active_crt.pem"),
                       os.path.join(workdir, "active_key.pem"))
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.argv = None
        self.extra = []
        self.preexec = None
        self.env = None
        for src, dst in (("server_crt.pem", self.active[0]), ("server_key.pem", self.active[1])):
            with open(os.path.join(workdir, src), "rb") as f, open(dst, "wb") as g:
                g.write(f.read())

    def supports(self, option):
        out = subprocess.run([self.args.bin, "-h"], capture_output=True, text=True).stdout
        return option in out

    def start(self):
        a = self.args
        opts = "ssl_chain_cert=%s,ssl_key=%s" % self.active
        if self.supports("ssl_handshake_timeout"):
            opts += ",ssl_handshake_timeout=%d" % a.handshake_timeout
        argv = [a.bin, "-p", str(self.tls_port), "-l",
                "notls:127.0.0.1:%d,127.0.0.1:%d" % (self.plain_port, self.tls_port),
                "-m", str(a.memory), "-c", str(a.maxconns), "-t", str(a.threads), "-Z", "-o", opts]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        argv += a.server_arg + self.extra
        self.argv = argv
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.preexec,
                                     env=self.env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("server exited at startup (%s); log:\n%s"
                                 % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.plain_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("server not accepting after 15 s")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; the exit status, or None if it had to be killed."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


class Monitor(threading.Thread):
    """Once a second: is the server alive, how fast does it answer, how big is it."""

    def __init__(self, sh, server):
        super().__init__(name="monitor", daemon=True)
        self.sh = sh
        self.server = server
        self.rss = []
        self.latency = []
        self.peak_conns = 0
        self.died = None
        self.conn = Conn(server.plain_port)
        sh.counts["connections"] += 1

    def run(self):
        pid = self.server.proc.pid
        while not self.sh.stop.wait(1.0):
            if self.server.proc.poll() is not None:
                self.died = self.server.proc.returncode
                self.sh.fail("server died during the soak (status %s)" % self.died)
                self.sh.stop.set()
                return
            self.rss.append(rss_kb(pid))
            try:
                t0 = time.monotonic()
                if not self.conn.cmd(b"version").startswith(b"VERSION "):
                    self.sh.fail("monitor: bad version reply")
                self.latency.append(time.monotonic() - t0)
                st = self.conn.stats()
                self.peak_conns = max(self.peak_conns, int(st["curr_connections"]))
            except (OSError, EOFError, ssl.SSLError) as e:
                self.sh.fail("monitor: %r" % e)
                return
        self.conn.close()


class IdlePool:
    """Connections opened at the start and left idle: they must still work at the end."""

    def __init__(self, sh, n):
        self.conns = []
        for i in range(n):
            self.conns.append(sh.connect(i % 2 == 1))
        sh.counts["connections"] += n

    def check(self):
        ok = 0
        for c in self.conns:
            try:
                if c.cmd(b"version").startswith(b"VERSION "):
                    ok += 1
            except (OSError, EOFError, ssl.SSLError):
                pass
            c.close()
        return ok


# ---------------------------------------------------------------- setup

def setup_data(admin):
    """Counters, CAS keys and the big values the injectors read."""
    for i in range(N_COUNTERS):
        for key, start in ((b"n:%d" % i, 0), (b"d:%d" % i, DECR_START)):
            if admin.store(b"set", key, b"%d" % start) != b"STORED":
                raise SystemExit("setup: cannot store %r" % key)
    for i in range(N_CAS):
        key = b"c:%d" % i
        if admin.store(b"set", key, make_value(key, 0, 0, 50)) != b"STORED":
            raise SystemExit("setup: cannot store %r" % key)
    for i in range(BIG_KEYS):
        key = b"big:%d" % i
        if admin.store(b"set", key, make_value(key, 0, 0, BIG_VALUE)) != b"STORED":
            raise SystemExit("setup: cannot store %r" % key)


def find_stat(st, *patterns):
    for p in patterns:
        for k in st:
            if re.fullmatch(p, k):
                return k
    return None


# ---------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.rows = []

    def add(self, name, ok, detail=""):
        self.rows.append((name, bool(ok), detail))

    def equal(self, name, server, client):
        self.add(name, server == client, "server %s, clients %s" % (server, client))

    @property
    def ok(self):
        return all(r[1] for r in self.rows)


def delta(s0, s1, name):
    return int(s1.get(name, 0)) - int(s0.get(name, 0))


def check_stats(chk, sh, s0, s1, stat_names):
    c, n = sh.counts, sh.notes
    d = lambda name: delta(s0, s1, name)  # noqa: E731
    unc = n["uncertain_get_keys"]
    chk.equal("cmd_get = keys requested", d("cmd_get"), c["get_keys"] + unc)
    hits = d("get_hits")
    chk.add("get_hits = hits seen (+ unread replies)", c["get_hits"] <= hits <= c["get_hits"] + unc,
            "server %d, clients %d (+ up to %d unread)" % (hits, c["get_hits"], unc))
    chk.equal("get_hits + get_misses = cmd_get", d("get_hits") + d("get_misses"), d("cmd_get"))
    chk.equal("cmd_touch", d("cmd_touch"), c["touch_keys"])
    chk.equal("touch_hits", d("touch_hits"), c["touch_hits"])
    chk.equal("cmd_set", d("cmd_set"), c["set_cmds"])
    for name in ("cas_hits", "cas_badval", "cas_misses", "incr_hits", "incr_misses",
                 "decr_hits", "decr_misses", "delete_hits", "delete_misses"):
        chk.equal(name, d(name), c[name])
    chk.equal("store_too_large", d("store_too_large"), n["too_large"])
    chk.equal("total_connections", d("total_connections"), c["connections"])
    chk.equal("ssl_handshake_errors = broken handshakes", d("ssl_handshake_errors"),
              n["expected_hs_errors"])
    if stat_names["hs_timeout"]:
        got = d(stat_names["hs_timeout"])
        lo, hi = n["stalled_closed"], n["stalled_closed"] + n["stalled_closed_by_client"]
        chk.add("%s = stalled handshakes closed" % stat_names["hs_timeout"], lo <= got <= hi,
                "server %d, clients saw %d closed (+%d closed by us at the end)"
                % (got, lo, hi - lo))
    else:
        chk.add("handshake timeout counted in stats", False, "no such stat in `stats`")
    if stat_names["overflow"]:
        chk.equal("%s = non-readers closed" % stat_names["overflow"], d(stat_names["overflow"]),
                  n["big_get_closed"])
    else:
        chk.add("output overflow counted in stats", False, "no such stat in `stats`")
    # Allowed under memory pressure (the item could not be made room for): shown, not judged.
    chk.add("SERVER_ERROR out of memory replies (allowed)", True, "%d" % c["store_oom"])


def check_invariants(chk, sh, admin, evictions):
    resets = sum(sh.resets.values())
    chk.add("counter/cas keys never vanished", resets == 0 or evictions > 0,
            "%d misses, %d evictions" % (resets, evictions))
    dup_cas = bad_final = 0
    for i in range(N_CAS):
        key = b"c:%d" % i
        wins = sh.cas_wins.get(key, [])
        dup_cas += len(wins) - len(set(wins))
        admin.send(b"get %s\r\n" % key)
        vals = admin.read_values()
        version = check_value(key, vals[0][2])[1] if vals else -1
        if not sh.resets[key] and version != len(wins):
            bad_final += 1
    total_wins = sum(len(v) for v in sh.cas_wins.values())
    chk.add("CAS: no version won twice", dup_cas == 0,
            "%d wins, %d duplicates" % (total_wins, dup_cas))
    chk.add("CAS: final version = number of wins", bad_final == 0, "%d keys off" % bad_final)
    dup = off = 0
    for i in range(N_COUNTERS):
        for key, start, sign in ((b"n:%d" % i, 0, 1), (b"d:%d" % i, DECR_START, -1)):
            seen = sh.incr_seen.get(key, [])
            dup += len(seen) - len(set(seen))
            final = int(admin.cmd(b"incr %s 0" % key))
            if not sh.resets[key] and final != start + sign * len(seen):
                off += 1
    chk.add("incr/decr: every reply a new value", dup == 0, "%d duplicates" % dup)
    chk.add("incr/decr: final = start + steps", off == 0, "%d counters off" % off)


def check_private(chk, sh, admin, clients, evictions):
    bad = missing = 0
    for cl in clients:
        for key, value in cl.private.items():
            admin.send(b"get %s\r\n" % key)
            vals = admin.read_values()
            if not vals:
                missing += 1
            elif vals[0][2] != value:
                bad += 1
    misses = sh.counts["private_misses"] + missing
    chk.add("private keys: last write always read back", bad == 0 and (misses == 0 or evictions),
            "%d wrong, %d missing, %d evictions" % (bad, misses, evictions))


def flood(chk, server, maxconns, memory_mb, rss_judged):
    """Open more connections than -c allows: the excess gets memcached's error line."""
    admin = Conn(server.plain_port)
    before = int(admin.stats()["rejected_connections"])
    socks, refused = [], 0
    for _ in range(maxconns + 40):
        try:
            socks.append(raw_connect(server.plain_port, timeout=2))
        except OSError:
            refused += 1
    time.sleep(1.5)
    rss = rss_kb(server.proc.pid)
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    rejected = other = 0
    for key, _ in sel.select(timeout=1.0):
        try:
            data = key.fileobj.recv(200)
        except OSError:
            data = b""
        if data == b"ERROR Too many open connections\r\n":
            rejected += 1
        else:
            other += 1
    sel.close()
    silent = len(socks) - rejected - other
    for s in socks:
        s.close()
    time.sleep(1.0)
    after = int(admin.stats()["rejected_connections"])
    alive = Conn(server.plain_port).cmd(b"version").startswith(b"VERSION ")
    admin.close()
    chk.add("-c: excess connections get 'ERROR Too many open connections'",
            rejected > 0 and after - before == rejected and other == 0,
            "%d opened: %d served, %d rejected (stat +%d), %d other, %d connect failures"
            % (len(socks), silent, rejected, after - before, other, refused))
    chk.add("-c: serves again after the flood", alive)
    bound = (memory_mb + RSS_BASE_MB) * 1024 + silent * PER_CONN_KB
    chk.add("RSS with %d connections open within the same bound" % silent,
            rss <= bound or not rss_judged, "%d MB, bound %d MB%s" % (
                rss // 1024, bound // 1024, "" if rss_judged else " (not judged)"))
    return {"opened": len(socks), "served": silent, "rejected": rejected, "rss": rss // 1024}


# ---------------------------------------------------------------- summary

def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


def print_starved(w, st):
    how = ("RLIMIT_AS %d MB (idle + %d MB), -m 1024" % (st["cap_mb"], st["headroom_mb"])
           if st["cap_mb"] else st["failed"])
    w("\nfailing-malloc phase, %s: malloc_fails %s, read_buf_oom %s, evictions %s, "
      "connections %s\n" % (how, st["stats"]["malloc_fails"], st["stats"]["read_buf_oom"],
                            st["stats"]["evictions"], st["stats"]["total_connections"]))
    for kind, n in sorted(st["counts"].items()):
        if kind != "failures":
            w("  %-58s %7d\n" % (kind, n))


def print_summary(args, sh, mon, server, chk, s0, s1, elapsed, flood_res, idle_ok, starved=None):
    c = sh.counts
    w = sys.stdout.write
    w("\n== soak summary: %.0f s, %d clients (%d TLS), %d idle connections, seed %d ==\n"
      % (elapsed, args.clients, args.clients // 2, args.idle, args.seed))
    w("server: %s\n\n" % " ".join(server.argv))
    ops = c["ops"]
    rows = [
        ("client operations", "%d (%.0f/s)" % (ops, ops / max(elapsed, 1))),
        ("keys read / hits", "%d / %d" % (c["get_keys"], c["get_hits"])),
        ("storage commands", "%d" % c["set_cmds"]),
        ("cas wins / lost / missing", "%d / %d / %d" % (c["cas_hits"], c["cas_badval"],
                                                        c["cas_misses"])),
        ("incr+decr", "%d" % (c["incr_hits"] + c["decr_hits"])),
        ("connections (total)", "%d (TLS handshakes by clients: %d)" % (c["connections"],
                                                                        c["tls_handshakes"])),
        ("bytes read / written by server", "%d MB / %d MB" % (delta(s0, s1, "bytes_read") // MB,
                                                             delta(s0, s1, "bytes_written") // MB)),
        ("server certs seen by clients", "%d" % len(sh.certs_seen - {None})),
        ("RSS fresh / under load max / end", "%.1f / %d / %d MB" % (args.rss_fresh / 1024,
                                                       max(mon.rss or [0]) // 1024,
                                                       mon.rss[-1] // 1024 if mon.rss else 0)),
        ("peak curr_connections", "%d" % mon.peak_conns),
        ("RSS per idle connection", "%.1f KB (%d idle, half TLS)" % (
            sh.notes["idle_rss_kb"] / max(args.idle, 1), args.idle)),
        ("items evicted / stored by filler", "%d / %d" % (delta(s0, s1, "evictions"),
                                                          c["filler_sets"])),
        ("version latency p50 / p99 / max", "%.1f / %.1f / %.1f ms" % (
            pct(mon.latency, 0.5) * 1e3, pct(mon.latency, 0.99) * 1e3,
            max(mon.latency or [0]) * 1e3)),
        ("idle connections alive at end", "%d of %d" % (idle_ok, args.idle)),
        ("flood past -c", "%(opened)d opened, %(served)d served, %(rejected)d rejected, "
         "RSS %(rss)d MB" % flood_res),
    ]
    for name, val in rows:
        w("  %-34s %s\n" % (name, val))
    w("\nfaults injected: %d\n" % sum(sh.faults.values()))
    for kind, n in sorted(sh.faults.items()):
        w("  %-58s %7d\n" % (kind, n))
    if sh.timings:
        w("\ntimings (min / median / max):\n")
        for name, v in sorted(sh.timings.items()):
            if name.startswith("connect_"):
                continue
            w("  %-44s %.3f / %.3f / %.3f  (n=%d)\n" % (name, min(v), pct(v, 0.5), max(v), len(v)))
    for st in starved or []:
        print_starved(w, st)
    w("\nchecks:\n")
    for name, ok, detail in chk.rows:
        w("  [%s] %-50s %s\n" % ("ok" if ok else "FAIL", name, detail))
    if sh.failures:
        w("\nfirst failures (%d in all):\n" % sh.nfail)
        for f in sh.failures:
            w("  - %s\n" % f)
    w("\nsoak %s\n" % ("PASSED" if chk.ok else "FAILED"))


# ---------------------------------------------------------------- main

def run(args, workdir):
    server = Server(args, workdir)
    server.start()
    args.rss_fresh = rss_kb(server.proc.pid)
    try:
        return run_started(args, server)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def run_started(args, server):
    ca = os.path.join(args.certs, "ca_crt.pem")
    tls_ctxs = [tls_context(ca), tls_context(ca, ssl.TLSVersion.TLSv1_2)]
    sh = Shared(args, (server.plain_port, server.tls_port), tls_ctxs)
    admin = Conn(server.plain_port)
    setup_data(admin)
    s0 = admin.stats()
    stat_names = {
        "hs_timeout": find_stat(s0, r".*handshake_timeout.*"),
        # Printed once it is not 0 (stats then list exactly memcached's names).
        "overflow": find_stat(s0, r"conns?_output_overflow", r".*output.*overflow.*",
                              r".*overflow.*") or "conns_output_overflow",
    }
    mon = Monitor(sh, server)
    rss_before_idle = rss_kb(server.proc.pid)
    idle = IdlePool(sh, args.idle)
    time.sleep(0.5)
    sh.notes["idle_rss_kb"] = rss_kb(server.proc.pid) - rss_before_idle
    nwriters = args.clients
    threads = [Client(sh, i + 1, i % 2 == 1, args.seed * 1000 + i) for i in range(nwriters)]
    if args.fill_rate > 0:
        threads.append(Filler(sh, nwriters + 3, False, args.seed + 7, args.fill_rate))
    threads += [
        HandshakeFaults(sh, args.seed + 1),
        StalledHandshakes(sh, args.seed + 2, args.handshake_timeout),
        CommandFaults(sh, args.seed + 3, False, nwriters + 1),
        CommandFaults(sh, args.seed + 4, True, nwriters + 2),
        BigGetter(sh, args.seed + 5, server.plain_port, BIG_GET_KEYS, BIG_VALUE,
                  stat_names["overflow"]),
        Rotator(sh, args.seed + 6, args.certs, server.active, server.proc.pid, args.rotate_every),
    ]
    t0 = time.monotonic()
    mon.start()
    for t in threads:
        t.start()
    sh.stop.wait(args.seconds)
    sh.stop.set()
    for t in threads:
        t.join(60)
        if t.is_alive():
            sh.fail("thread %s did not stop within 60 s" % t.name)
    mon.join(10)
    elapsed = time.monotonic() - t0
    idle_ok = idle.check()
    chk = Checks()
    finish(args, sh, mon, server, admin, chk, s0, stat_names, threads, idle_ok, elapsed)
    return chk.ok


def wait_conns_settle(admin, baseline, seconds=15):
    deadline = time.monotonic() + seconds
    while True:
        st = admin.stats()
        if int(st["curr_connections"]) <= baseline or time.monotonic() > deadline:
            return st
        time.sleep(0.2)


def finish(args, sh, mon, server, admin, chk, s0, stat_names, threads, idle_ok, elapsed):
    alive = server.proc.poll() is None
    chk.add("server alive for the whole run", alive and mon.died is None,
            "" if alive else "exit status %s" % server.proc.returncode)
    if not alive:
        print_summary(args, sh, mon, server, chk, s0, s0, elapsed,
                      {"opened": 0, "served": 0, "rejected": 0, "rss": 0}, idle_ok)
        return
    baseline = int(s0["curr_connections"])
    s1 = wait_conns_settle(admin, baseline)
    chk.add("all connections closed afterwards", int(s1["curr_connections"]) == baseline,
            "curr_connections %s, before %d" % (s1["curr_connections"], baseline))
    chk.add("no client error, no bad value", sh.nfail == 0, "%d failures" % sh.nfail)
    chk.add("idle connections still served", idle_ok == args.idle,
            "%d of %d" % (idle_ok, args.idle))
    check_stats(chk, sh, s0, s1, stat_names)
    evictions = delta(s0, s1, "evictions")
    check_invariants(chk, sh, admin, evictions)
    check_private(chk, sh, admin, [t for t in threads if isinstance(t, Client)], evictions)
    rotations = sum(v for k, v in sh.faults.items() if k.startswith("certs: rotated"))
    certs = len(sh.certs_seen - {None})
    chk.add("clients saw the rotated certificates", rotations < 2 or certs >= 2,
            "%d rotations, %d distinct certs" % (rotations, certs))
    chk.add("not-TLS bytes rejected early (< 1 s)",
            max(sh.timings["not-TLS bytes rejected after (s)"] or [0]) < 1.0)
    stalled = sh.timings["stalled handshake closed after (s)"]
    chk.add("stalled handshakes closed by the timeout",
            bool(stalled) and max(stalled) <= args.handshake_timeout + 2.5,
            "%d closed, latest after %.2f s (timeout %d s, 1 s sweep)"
            % (len(stalled), max(stalled or [0]), args.handshake_timeout))
    lat = max(mon.latency or [0])
    chk.add("kept serving others (version < 2 s)", lat < 2.0, "max %.0f ms" % (lat * 1e3))
    bound = (args.memory + RSS_BASE_MB) * 1024 + mon.peak_conns * PER_CONN_KB
    peak = max(mon.rss or [0])
    judged = args.rss_judged
    chk.add("RSS <= -m + %d MB + %d KB per connection" % (RSS_BASE_MB, PER_CONN_KB),
            peak <= bound or not judged, "max %d MB, bound %d MB%s" % (
                peak // 1024, bound // 1024, "" if judged else " (not judged: sanitizer build)"))
    flood_res = flood(chk, server, args.maxconns, args.memory, judged)
    admin.close()
    status = server.stop()
    log = server.log()
    chk.add("clean exit on SIGTERM", status == 0, "status %s" % status)
    starved = []
    if args.starved_seconds > 0:
        nclients = max(4, args.clients // 2)
        starved.append(Starved(Server, args, args.certs, args.starved_headroom,
                               args.starved_seconds, nclients).run(chk))
        # Sanitizer runtimes replace malloc themselves and must be loaded first.
        if args.failmalloc and args.rss_judged:
            starved.append(Starved(Server, args, args.certs, 0, args.starved_seconds, nclients,
                                   (args.failmalloc, args.failmalloc_one_in)).run(chk))
        log = server.log()
    san = re.search(r"(AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:)[^\n]*", log)
    chk.add("no sanitizer report in the server logs", san is None, san.group(0) if san else "")
    print_summary(args, sh, mon, server, chk, s0, s1, elapsed, flood_res, idle_ok, starved)


def main():
    args = parse_args()
    args.rss_judged = not (args.no_rss_check or is_sanitized(args.bin))
    sys.exit(0 if run(args, args.certs) else 1)


if __name__ == "__main__":
    main()
