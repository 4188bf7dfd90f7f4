#!/usr/bin/python3
# Drives pylibmc (Debian python3-pylibmc, libmemcached underneath) against one
# fresh server and prints a transcript of client-visible results, compared by
# t/compat_clients.t with t/compat/pylibmc_client.expected (recorded against
# memcached 1.6.18). The same API run repeats under several behavior sets,
# because libmemcached changes what it puts on the wire with them (no_block
# pipelines, buffer_requests batches, _noreply appends "noreply").
#
# With --binary-probe it only reports what a binary-protocol client sees: the
# reference serves the binary protocol, a text-only server must fail such a
# client quickly (timeouts below) instead of hanging it.
#
# Usage: pylibmc_client.py HOST PORT [--binary-probe]

import sys

import pylibmc


def out(name, value):
    print("%s => %s" % (name, value), flush=True)


def short(v):
    if isinstance(v, bytes) and len(v) > 64:
        return "<%d bytes>" % len(v)
    if isinstance(v, dict):
        return "{" + ", ".join("%r: %s" % (k, short(v[k]))
                               for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(short(x) for x in v) + "]"
    return repr(v)


def call(name, fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except Exception as e:
        r = "EXC %s" % type(e).__name__
    out(name, short(r))
    return r


TIMEOUTS = {"connect_timeout": 2000, "receive_timeout": 2000000,
            "send_timeout": 2000000, "_poll_timeout": 2000,
            "retry_timeout": 0}

MODES = [
    ("default", {}),
    ("nodelay", {"tcp_nodelay": True, "tcp_keepalive": True}),
    ("noblock", {"no_block": True, "tcp_nodelay": True}),
    ("buffered", {"buffer_requests": True, "no_block": True}),
    ("cas", {"cas": True, "verify_keys": True}),
]


def api(c, p, cas_on):
    call(p + "get missing", c.get, "nope")
    call(p + "set str", c.set, "s", "hello")
    call(p + "get str", c.get, "s")
    call(p + "set bytes", c.set, "b", b"\x00\x01\xff\r\n")
    call(p + "get bytes", c.get, "b")
    call(p + "set int", c.set, "i", 42)
    call(p + "get int", c.get, "i")
    call(p + "set pickled", c.set, "o", {"k": [1, 2]})
    call(p + "get pickled", c.get, "o")
    call(p + "set bool", c.set, "t", True)
    call(p + "get bool", c.get, "t")
    call(p + "add existing", c.add, "s", "x")
    call(p + "add new", c.add, "n", "1")
    call(p + "replace missing", c.replace, "zz", "x")
    call(p + "replace existing", c.replace, "n", "2")
    call(p + "append", c.append, "s", " world")
    call(p + "prepend", c.prepend, "s", ">> ")
    call(p + "append missing", c.append, "zz", "x")
    call(p + "get appended", c.get, "s")
    call(p + "incr", c.incr, "n", 10)
    call(p + "decr", c.decr, "n", 5)
    call(p + "decr to zero", c.decr, "n", 50)
    call(p + "incr missing", c.incr, "zz", 1)
    call(p + "incr non-numeric", c.incr, "s", 1)
    call(p + "incr_multi", c.incr_multi, ["n", "i"], delta=3)
    call(p + "get_multi after incr_multi", c.get_multi, ["n", "i"])
    call(p + "touch hit", c.touch, "s", 100)
    call(p + "touch miss", c.touch, "zz", 100)
    call(p + "delete hit", c.delete, "n")
    call(p + "delete miss", c.delete, "n")
    if cas_on:
        v, cas = c.gets("s")
        out(p + "gets", short(v))
        call(p + "cas ok", c.cas, "s", "casval", cas)
        call(p + "cas stale", c.cas, "s", "x", cas)
        call(p + "cas missing", c.cas, "zz", "x", cas)
        call(p + "get after cas", c.get, "s")
    vals = {"m%d" % i: "v%d" % i for i in range(1000)}
    call(p + "set_multi 1000", c.set_multi, vals)
    got = c.get_multi(list(vals) + ["m-missing"])
    out(p + "get_multi 1000", (len(got), all(got.get(k) == v
                                            for k, v in vals.items())))
    call(p + "add_multi", c.add_multi, {"m1": "x", "am": "y"})
    call(p + "delete_multi", c.delete_multi, ["m1", "m2", "m-missing"])
    call(p + "get_multi deleted", c.get_multi, ["m1", "m2", "am"])
    big = bytes((i * 13) & 0xFF for i in range(1000 * 1000))
    call(p + "set 1MB-ish", c.set, "big", big)
    g = c.get("big")
    out(p + "get 1MB-ish matches", g == big)
    call(p + "set too large", c.set, "big", big + big)
    call(p + "get after too large", c.get, "big")
    call(p + "set after too large", c.set, "after", "ok")
    call(p + "get after after", c.get, "after")
    call(p + "set key with prefix", c.set, "k" * 250, "long")
    call(p + "get long key", c.get, "k" * 250)
    call(p + "flush_all", c.flush_all)
    call(p + "get after flush", c.get, "s")


def stats(c):
    st = c.get_stats()
    out("stats servers", len(st))
    d = st[0][1]
    for k in ("version", "threads", "limit_maxbytes"):
        out("stats " + k, d.get(k))
    out("stats has pid", "pid" in d)
    for sub in ("settings", "items", "slabs", "sizes", "conns"):
        try:
            r = c.get_stats(sub)
            out("stats " + sub + " ok", len(r) == 1 and len(r[0][1]) > 0)
        except Exception as e:
            out("stats " + sub, "EXC %s" % type(e).__name__)


def noreply_mode(host, port):
    c = pylibmc.Client(["%s:%d" % (host, port)],
                       behaviors=dict(TIMEOUTS, _noreply=True))
    for i in range(200):
        c.set("nr%d" % i, "x%d" % i)
    c.delete("nr0")
    c.incr("nr-missing", 1)
    c.set("nrnum", 5)
    c.incr("nrnum", 2)
    # Same connection: the server handles the noreply commands before this.
    got = c.get_multi(["nr%d" % i for i in range(200)] + ["nrnum"])
    out("noreply sets visible", (len(got), "nr0" in got, got.get("nrnum")))


def binary_probe(host, port):
    quick = {"connect_timeout": 1000, "receive_timeout": 500000,
             "send_timeout": 500000, "_poll_timeout": 500,
             "retry_timeout": 0}
    c = pylibmc.Client(["%s:%d" % (host, port)], binary=True,
                       behaviors=quick)
    call("binary set", c.set, "bk", "bv")
    call("binary get", c.get, "bk")
    t = pylibmc.Client(["%s:%d" % (host, port)], behaviors=dict(TIMEOUTS))
    call("text client after binary", t.set, "tk", "tv")
    call("text get after binary", t.get, "tk")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "--binary-probe":
        binary_probe(host, port)
        print("done")
        return
    for name, beh in MODES:
        c = pylibmc.Client(["%s:%d" % (host, port)],
                           behaviors=dict(TIMEOUTS, **beh))
        api(c, name + ": ", beh.get("cas", False))
        c.disconnect_all()
    stats(pylibmc.Client(["%s:%d" % (host, port)],
                         behaviors=dict(TIMEOUTS)))
    noreply_mode(host, port)
    print("done")


if __name__ == "__main__":
    main()
