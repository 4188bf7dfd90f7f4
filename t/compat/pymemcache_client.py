#!/usr/bin/python3
# Drives the third-party pymemcache client (Debian python3-pymemcache) through
# its whole public API against one fresh server and prints a transcript: one
# line per call with the client-visible result. t/compat_clients.t compares the
# transcript with t/compat/pymemcache_client.expected, which was recorded
# against memcached 1.6.18, so any behaviour a real client can see and that
# differs from the reference shows up as a diff line.
#
# Only deterministic values are printed: no cas numbers (only whether they
# compare equal), no pids, times or byte counts that depend on the allocator.
#
# Usage: pymemcache_client.py HOST PORT [--tls CA_FILE]

import socket
import ssl
import sys

from pymemcache.client.base import Client, PooledClient
from pymemcache import exceptions as mcexc


def out(name, value):
    print("%s => %s" % (name, value), flush=True)


class FlagSerde:
    """Keeps values as bytes and reports the flags the server returned."""

    def serialize(self, key, value):
        if isinstance(value, tuple):
            return value[0], value[1]
        return value, 0

    def deserialize(self, key, value, flags):
        return (value, flags)


def call(name, fn, *args, **kw):
    """Runs one client call; prints its result or the exception it raised."""
    try:
        r = fn(*args, **kw)
    except Exception as e:  # the exception class and server text matter
        r = "EXC %s(%s)" % (type(e).__name__, str(e).strip())
    out(name, short(r))
    return r


def short(v):
    """Shortens big values so that the transcript stays readable."""
    if isinstance(v, bytes) and len(v) > 64:
        return "<%d bytes>" % len(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(short(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (short(k), short(v[k]))
                               for k in sorted(v)) + "}"
    return repr(v)


def basic(c):
    call("get missing", c.get, b"nope")
    call("set a", c.set, b"a", b"hello", noreply=False)
    call("get a", c.get, b"a")
    call("set flags", c.set, b"f", (b"v", 4294967295), noreply=False)
    call("get flags", c.get, b"f")
    call("add existing", c.add, b"a", b"x", noreply=False)
    call("add new", c.add, b"b", b"bee", noreply=False)
    call("replace missing", c.replace, b"zz", b"x", noreply=False)
    call("replace existing", c.replace, b"b", b"BEE", noreply=False)
    call("append", c.append, b"a", b" world", noreply=False)
    call("prepend", c.prepend, b"a", b">> ", noreply=False)
    call("append missing", c.append, b"zz", b"x", noreply=False)
    call("prepend missing", c.prepend, b"zz", b"x", noreply=False)
    call("get a after", c.get, b"a")
    call("expire negative set", c.set, b"gone", b"x", expire=-1,
         noreply=False)
    call("get expired", c.get, b"gone")
    call("empty value", c.set, b"empty", b"", noreply=False)
    call("get empty", c.get, b"empty")
    call("max key", c.set, b"k" * 250, b"long", noreply=False)
    call("get max key", c.get, b"k" * 250)


def cas_ops(c):
    call("cas missing", c.cas, b"nocas", b"x", b"1", noreply=False)
    v1, cas1 = c.gets(b"a")
    out("gets a", short(v1))
    call("cas ok", c.cas, b"a", b"new", cas1, noreply=False)
    call("cas stale", c.cas, b"a", b"newer", cas1, noreply=False)
    v2, cas2 = c.gets(b"a")
    out("gets after cas", "%s cas_changed=%s" % (short(v2), cas2 != cas1))
    many = c.gets_many([b"a", b"b", b"nope"])
    out("gets_many keys", sorted(many))
    out("gets_many a cas matches", many[b"a"][1] == cas2)
    call("cas noreply", c.cas, b"a", b"nr", cas2, noreply=True)
    call("get after cas noreply", c.get, b"a")


def arith(c):
    call("incr missing", c.incr, b"n", 1)
    call("decr missing", c.decr, b"n", 1)
    c.set(b"n", b"10", noreply=False)
    call("incr", c.incr, b"n", 5)
    call("decr", c.decr, b"n", 3)
    call("decr below zero", c.decr, b"n", 100)
    c.set(b"big", b"18446744073709551615", noreply=False)
    call("incr wraps", c.incr, b"big", 2)
    c.set(b"txt", b"abc", noreply=False)
    call("incr non-numeric", c.incr, b"txt", 1)
    c.set(b"sp", b"5  ", noreply=False)
    call("incr trailing spaces", c.incr, b"sp", 1)
    call("get after incr spaces", c.get, b"sp")
    call("incr noreply", c.incr, b"n", 7, noreply=True)
    call("get after incr noreply", c.get, b"n")
    c.set(b"len", b"99", noreply=False)
    call("incr grows", c.incr, b"len", 1)
    call("get grown", c.get, b"len")


def deletes(c):
    call("delete hit", c.delete, b"b", noreply=False)
    call("delete miss", c.delete, b"b", noreply=False)
    c.set_many({b"d1": b"1", b"d2": b"2"}, noreply=False)
    call("delete_many", c.delete_many, [b"d1", b"d2", b"d3"], noreply=False)
    call("get_many deleted", c.get_many, [b"d1", b"d2"])
    c.set(b"d4", b"4", noreply=False)
    call("delete noreply", c.delete, b"d4", noreply=True)
    call("get after delete noreply", c.get, b"d4")


def touch_ops(c):
    call("touch hit", c.touch, b"a", 100, noreply=False)
    call("touch miss", c.touch, b"zz", 100, noreply=False)
    call("touch expire", c.touch, b"a", -1, noreply=False)
    call("get touched away", c.get, b"a")


def binary_values(c):
    allbytes = bytes(range(256)) * 4
    call("set binary", c.set, b"bin", allbytes, noreply=False)
    r = c.get(b"bin")
    out("binary roundtrip", r is not None and r[0] == allbytes)
    crlf = b"line1\r\nEND\r\nVALUE x 0 1\r\n\r\n"
    c.set(b"crlf", crlf, noreply=False)
    r = c.get(b"crlf")
    out("crlf roundtrip", r is not None and r[0] == crlf)
    r = c.get(b"crlf")
    out("connection still in sync", r is not None and r[0] == crlf)


def large_values(c):
    for size in (500 * 1024, 1000 * 1000, 1024 * 1024 - 1024,
                 1024 * 1024, 2 * 1024 * 1024):
        val = bytes((i * 7) & 0xFF for i in range(256)) * (size // 256 + 1)
        val = val[:size]
        r = call("set large %d" % size, c.set, b"large", val, noreply=False)
        g = c.get(b"large")
        ok = g is not None and g[0] == val
        out("get large %d matches" % size, ok if r is True else g is None)
    # After refusing a too large value the connection must still work.
    call("set after too large", c.set, b"after", b"ok", noreply=False)
    call("get after too large", c.get, b"after")
    # The largest value stored for a 10-byte key; a binary search keeps
    # the round trips to about 20 per run.
    lo, hi = 1000 * 1000, 1024 * 1024
    key = b"boundary01"
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            ok = c.set(key, b"z" * mid, noreply=False)
        except mcexc.MemcacheServerError:
            ok = False
        if ok:
            lo = mid
        else:
            hi = mid - 1
    out("largest value for 10-byte key", lo)


def many_keys(c):
    vals = {b"many:%d" % i: b"value-%d" % i for i in range(2000)}
    failed = c.set_many(vals, noreply=False)
    out("set_many 2000 failed", failed)
    got = c.get_many(list(vals) + [b"many:missing"])
    out("get_many 2000 hits", len(got))
    out("get_many 2000 correct",
        all(got[k][0] == v for k, v in vals.items()))
    nr = {b"nr:%d" % i: b"x%d" % i for i in range(500)}
    c.set_many(nr, noreply=True)
    got = c.get_many(list(nr))
    out("set_many noreply visible", len(got))


def stats_ops(c, port, tls):
    st = c.stats()
    for k in (b"pid", b"uptime", b"time", b"version", b"libevent",
              b"pointer_size", b"rusage_user", b"curr_connections",
              b"total_connections", b"bytes", b"limit_maxbytes",
              b"threads", b"hash_power_level", b"evictions"):
        out("stats has %s" % k.decode(), k in st)
    out("stats version", st.get(b"version"))
    for k in (b"cmd_get", b"cmd_set", b"cmd_flush", b"cmd_touch",
              b"get_hits", b"get_misses", b"get_flushed",
              b"delete_misses", b"delete_hits", b"incr_misses",
              b"incr_hits", b"decr_misses", b"decr_hits", b"cas_misses",
              b"cas_hits", b"cas_badval", b"touch_hits", b"touch_misses",
              b"curr_items", b"total_items", b"limit_maxbytes", b"threads"):
        out("stats %s" % k.decode(), st.get(k))
    s = c.stats("settings")
    for k in (b"maxbytes", b"maxconns", b"evictions",
              b"cas_enabled", b"item_size_max", b"num_threads",
              b"binding_protocol", b"flush_enabled"):
        out("stats settings %s" % k.decode(), s.get(k))
    out("stats settings tcpport is ours", s.get(b"tcpport") == port)
    out("stats settings ssl_enabled matches",
        s.get(b"ssl_enabled") == (b"yes" if tls else b"no"))
    out("stats items has number",
        any(k.endswith(b":number") for k in c.stats("items")))
    out("stats slabs has total_malloced",
        b"total_malloced" in c.stats("slabs"))
    out("stats sizes", sorted(c.stats("sizes")))
    call("stats bogus", c.stats, "bogus")


def misc(c):
    call("version", c.version)
    call("cache_memlimit", c.cache_memlimit, 100)
    call("flush_all", c.flush_all, noreply=False)
    call("get after flush", c.get, b"f")
    c.set(b"post", b"1", noreply=False)
    call("flush_all delay", c.flush_all, 100, noreply=False)
    call("get before delayed flush", c.get, b"post")
    call("flush_all 0 noreply", c.flush_all, 0, noreply=True)
    call("get after flush noreply", c.get, b"post")
    call("quit", c.quit)
    call("get after quit reconnects", c.get, b"post")
    call("shutdown not enabled", c.shutdown)
    call("still up", c.set, b"up", b"1", noreply=False)


def pooled(host, port, ctx):
    pc = PooledClient((host, port), serde=FlagSerde(), max_pool_size=4,
                      connect_timeout=3, timeout=3, tls_context=ctx)
    ok = True
    for i in range(50):
        ok &= pc.set(b"pool%d" % i, b"%d" % i, noreply=False)
    got = pc.get_many([b"pool%d" % i for i in range(50)])
    out("pooled", (ok, len(got)))
    pc.close()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ctx = None
    if len(sys.argv) > 4 and sys.argv[3] == "--tls":
        ctx = ssl.create_default_context(cafile=sys.argv[4])
        ctx.check_hostname = False
    c = Client((host, port), serde=FlagSerde(), connect_timeout=3,
               timeout=3, no_delay=True, default_noreply=False,
               tls_context=ctx)
    if ctx:
        c._connect()
        out("tls version", c.sock.version() in ("TLSv1.2", "TLSv1.3"))
        out("tls peer cert present", c.sock.getpeercert() is not None)
    for step in (basic, cas_ops, arith, deletes, touch_ops, binary_values,
                 many_keys):
        step(c)
    stats_ops(c, port, ctx is not None)
    for step in (large_values, misc):
        step(c)
    pooled(host, port, ctx)
    c.close()
    print("done")


if __name__ == "__main__":
    main()
