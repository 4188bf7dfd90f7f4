"""Soak test: the well-behaved clients and what they must observe.

Each Client thread owns one connection at a time (plain or TLS, reconnecting
every few hundred operations) and runs a random mix of get, gets, multi-get,
mg, set, ms, add, replace, delete, md, touch, gat, incr, decr, ma, cas (text
and meta), append, prepend and pipelined batches. Every value read is checked
with mc.check_value(); every reply must be one the protocol allows for that
command. Besides that, each client counts exactly what the server must count
(cmd_get keys and hits, cmd_set, cas hits/badval/misses, ...) so the final
`stats` can be compared with the clients' totals, and records what the
invariants below need:

  private keys  p:<writer>:<n>  written by one client only: a read must return
                exactly the last value that client stored (read-your-writes);
  counters      n:<i> (incr, ma) and d:<i> (decr): every reply is a new value,
                and the final value is the start plus the number of steps;
  cas keys      c:<i>: a value carries a version; a writer that read version v
                writes v+1 with cas, so two winners of one version would be two
                writers both winning with the same cas unique;
  append keys   a:<i>: runs of records, each checked.
"""

import collections
import random
import socket
import ssl
import threading
import time

from mc import BadValue, Conn, ProtocolError, check_records, check_value, make_record, make_value

N_SHARED = 400
N_PRIVATE = 16
N_COUNTERS = 12
N_CAS = 12
N_APPEND = 12
DECR_START = 5 * 10 ** 12  # stays 13 digits: decr never pads with spaces
IO_ERRORS = (OSError, EOFError, ProtocolError, ssl.SSLError, socket.timeout)


class Shared:
    """State every thread of one soak run reads or appends to."""

    def __init__(self, args, ports, tls_ctxs):
        self.args = args
        self.plain_port, self.tls_port = ports
        self.tls_ctxs = tls_ctxs
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.nfail = 0
        self.certs_seen = set()
        self.counts = collections.Counter()   # merged client-side counters
        self.faults = collections.Counter()   # faults injected, by kind
        self.notes = collections.Counter()    # other observations
        self.timings = collections.defaultdict(list)
        self.cas_wins = collections.defaultdict(list)    # key -> versions won
        self.incr_seen = collections.defaultdict(list)   # key -> values returned
        self.resets = collections.Counter()              # key -> times found missing

    def fail(self, msg):
        with self.lock:
            self.nfail += 1
            if len(self.failures) < 40:
                self.failures.append(msg)

    def merge(self, counter, field="counts"):
        with self.lock:
            getattr(self, field).update(counter)

    def connect(self, use_tls, **kw):
        if use_tls:
            ctx = random.choice(self.tls_ctxs)
            c = Conn(self.tls_port, ctx, **kw)
            d = c.peer_cert_digest()
            with self.lock:
                self.certs_seen.add(d)
            return c
        return Conn(self.plain_port, None, **kw)


def shared_key(rng):
    return b"s:%d" % rng.randrange(N_SHARED)


def value_size(rng):
    x = rng.random()
    if x < 0.70:
        return rng.randrange(10, 500)
    if x < 0.90:
        return rng.randrange(500, 8192)
    if x < 0.985:
        return rng.randrange(8192, 100000)
    return rng.randrange(100000, 600000)


class Client(threading.Thread):
    """One well-behaved client; writer id wid; plain or TLS."""

    def __init__(self, sh, wid, use_tls, seed):
        super().__init__(name="client-%d" % wid, daemon=True)
        self.sh = sh
        self.wid = wid
        self.use_tls = use_tls
        self.rng = random.Random(seed)
        self.c = collections.Counter()
        self.seq = 0
        self.conn = None
        self.private = {}       # key -> last value stored
        self.cas_wins = collections.defaultdict(list)
        self.incr_seen = collections.defaultdict(list)
        self.resets = collections.Counter()
        ops = [
            (self.op_get, 14), (self.op_multiget, 8), (self.op_gets, 4), (self.op_mg, 7),
            (self.op_set, 12), (self.op_ms, 4), (self.op_add_replace, 3), (self.op_delete, 3),
            (self.op_touch, 2), (self.op_counter, 8), (self.op_cas, 8), (self.op_append, 5),
            (self.op_private, 8), (self.op_pipeline, 4), (self.op_fault_keys, 1),
        ]
        self.ops = [f for f, w in ops for _ in range(w)]

    # ------------------------------------------------------------ helpers

    def next_value(self, key, size=None, flags=0):
        self.seq += 1
        return make_value(key, self.wid, self.seq, value_size(self.rng) if size is None else size,
                          flags)

    def bad(self, what, detail):
        self.sh.fail("client %d (%s) %s: %s" % (self.wid, "tls" if self.use_tls else "plain",
                                                 what, detail))

    def expect(self, what, got, allowed):
        if got not in allowed:
            raise ProtocolError("%s: unexpected reply %r" % (what, got[:120]))
        return got

    def storage_reply(self, what, got, allowed=(b"STORED",)):
        """Count a storage command's reply; out of memory is allowed, counted."""
        self.c["set_cmds"] += 1
        if got.startswith(b"SERVER_ERROR out of memory"):
            self.c["store_oom"] += 1
            return got
        return self.expect(what, got, allowed)

    def check_values(self, keys, values, with_cas=False):
        """VALUE blocks must come in request order, for requested keys, intact."""
        i = 0
        for key, flags, data, cas in values:
            while i < len(keys) and keys[i] != key:
                i += 1
            if i == len(keys):
                raise ProtocolError("VALUE for %r not requested or out of order" % key)
            i += 1
            if with_cas != (cas is not None):
                raise ProtocolError("cas unique %s" % ("missing" if with_cas else "unexpected"))
            self.check(key, data, flags)
        return len(values)

    def check(self, key, data, flags=None):
        if key.startswith(b"a:"):
            check_records(key, data)
        else:
            check_value(key, data, flags)
        if key.startswith(b"p:") and key in self.private and self.private[key] != data:
            raise BadValue("private key %r: read a value other than the last one stored" % key)

    # ------------------------------------------------------------ reads

    def op_get(self):
        key = shared_key(self.rng)
        self.conn.send(b"get %s\r\n" % key)
        self.c["get_keys"] += 1
        self.c["get_hits"] += self.check_values([key], self.conn.read_values())

    def op_multiget(self):
        keys = [shared_key(self.rng) for _ in range(self.rng.randrange(2, 40))]
        if self.rng.random() < 0.3:
            keys += [b"p:%d:%d" % (self.wid, self.rng.randrange(N_PRIVATE))]
        verb = b"gets" if self.rng.random() < 0.3 else b"get"
        self.conn.send(b"%s %s\r\n" % (verb, b" ".join(keys)))
        self.c["get_keys"] += len(keys)
        self.c["get_hits"] += self.check_values(keys, self.conn.read_values(), verb == b"gets")

    def op_gets(self):
        key = shared_key(self.rng)
        self.conn.send(b"gets %s\r\n" % key)
        self.c["get_keys"] += 1
        self.c["get_hits"] += self.check_values([key], self.conn.read_values(), True)

    def op_mg(self):
        key = shared_key(self.rng)
        r = self.conn.meta_get(key, b"v f c k" if self.rng.random() < 0.5 else b"v f c")
        self.c["get_keys"] += 1
        if r is not None:
            data, ret = r
            if b"k" in ret and ret[b"k"] != key:
                raise ProtocolError("mg returned key %r for %r" % (ret[b"k"], key))
            self.check(key, data, int(ret[b"f"]))
            self.c["get_hits"] += 1

    def op_touch(self):
        if self.rng.random() < 0.5:
            key = shared_key(self.rng)
            got = self.expect("touch", self.conn.cmd(b"touch %s 0" % key),
                              (b"TOUCHED", b"NOT_FOUND"))
            self.c["touch_keys"] += 1
            self.c["touch_hits"] += got == b"TOUCHED"
            return
        keys = [shared_key(self.rng) for _ in range(self.rng.randrange(1, 6))]
        verb = b"gats" if self.rng.random() < 0.5 else b"gat"
        self.conn.send(b"%s 0 %s\r\n" % (verb, b" ".join(keys)))
        self.c["touch_keys"] += len(keys)
        self.c["touch_hits"] += self.check_values(keys, self.conn.read_values(), verb == b"gats")

    # ------------------------------------------------------------ writes

    def op_set(self):
        key = shared_key(self.rng)
        flags = self.rng.randrange(1 << 32)
        value = self.next_value(key, flags=flags)
        exptime = 2 if self.rng.random() < 0.05 else 0
        if self.rng.random() < 0.1:
            self.conn.store(b"set", key, value, flags, exptime, noreply=True)
            self.c["set_cmds"] += 1
            self.c["set_noreply"] += 1
            return
        self.storage_reply("set", self.conn.store(b"set", key, value, flags, exptime))

    def op_ms(self):
        key = shared_key(self.rng)
        flags = self.rng.randrange(1 << 32)
        got = self.conn.meta_set(key, self.next_value(key, flags=flags), flags,
                                 ttl=2 if self.rng.random() < 0.05 else None)
        self.storage_reply("ms", got, (b"HD",))

    def op_add_replace(self):
        key = shared_key(self.rng)
        verb = b"add" if self.rng.random() < 0.5 else b"replace"
        flags = self.rng.randrange(1 << 32)
        got = self.conn.store(verb, key, self.next_value(key, flags=flags), flags)
        self.storage_reply(verb.decode(), got, (b"STORED", b"NOT_STORED"))

    def op_delete(self):
        key = shared_key(self.rng)
        if self.rng.random() < 0.5:
            got = self.expect("delete", self.conn.cmd(b"delete %s" % key),
                              (b"DELETED", b"NOT_FOUND"))
            hit = got == b"DELETED"
        else:
            hit = self.expect("md", self.conn.cmd(b"md %s" % key), (b"HD", b"NF")) == b"HD"
        self.c["delete_hits" if hit else "delete_misses"] += 1

    # ------------------------------------------------------------ counters

    def op_counter(self):
        i = self.rng.randrange(N_COUNTERS)
        x = self.rng.random()
        if x < 0.25:
            key = b"d:%d" % i
            got = self.conn.cmd(b"decr %s 1" % key)
            kind = "decr"
        elif x < 0.45:
            key = b"n:%d" % i
            self.conn.send(b"ma %s D1 v\r\n" % key)
            got = self.conn.readline()
            if got.startswith(b"VA "):
                got = self.conn.read_value_block(int(got.split()[1]))
            elif got == b"NF":
                got = b"NOT_FOUND"
            kind = "incr"
        else:
            key = b"n:%d" % i
            got = self.conn.cmd(b"incr %s 1" % key)
            kind = "incr"
        if got == b"NOT_FOUND":
            self.c[kind + "_misses"] += 1
            self.resets[key] += 1
            return
        if not got.isdigit():
            raise ProtocolError("%s: unexpected reply %r" % (kind, got[:80]))
        self.c[kind + "_hits"] += 1
        self.incr_seen[key].append(int(got))

    # ------------------------------------------------------------ cas

    def op_cas(self):
        key = b"c:%d" % self.rng.randrange(N_CAS)
        meta = self.rng.random() < 0.4
        if meta:
            r = self.conn.meta_get(key, b"v c")
            hit = r is not None
            data, cas = (r[0], int(r[1][b"c"])) if hit else (None, None)
        else:
            self.conn.send(b"gets %s\r\n" % key)
            vals = self.conn.read_values()
            self.check_values([key], vals, True)
            hit = bool(vals)
            data, cas = (vals[0][2], vals[0][3]) if hit else (None, None)
        self.c["get_keys"] += 1
        if not hit:
            self.resets[key] += 1
            return
        self.c["get_hits"] += 1
        _, version = check_value(key, data)
        value = make_value(key, self.wid, version + 1, self.rng.randrange(10, 300))
        if meta:
            got = self.conn.meta_set(key, value, 0, cas=cas)
            won, lost, gone = b"HD", b"EX", b"NF"
        else:
            got = self.conn.store(b"cas", key, value, 0, 0, cas=cas)
            won, lost, gone = b"STORED", b"EXISTS", b"NOT_FOUND"
        self.storage_reply("cas", got, (won, lost, gone))
        if got == won:
            self.c["cas_hits"] += 1
            self.cas_wins[key].append(version + 1)
        elif got == lost:
            self.c["cas_badval"] += 1
        elif got == gone:
            self.c["cas_misses"] += 1

    # ------------------------------------------------------------ append

    def op_append(self):
        key = b"a:%d" % self.rng.randrange(N_APPEND)
        self.seq += 1
        rec = make_record(key, self.wid, self.seq, self.rng.randrange(5, 2000))
        verb = b"append" if self.rng.random() < 0.6 else b"prepend"
        got = self.storage_reply(verb.decode(), self.conn.store(verb, key, rec),
                                 (b"STORED", b"NOT_STORED"))
        if got == b"NOT_STORED":
            got = self.storage_reply("add", self.conn.store(b"add", key, rec),
                                     (b"STORED", b"NOT_STORED"))
        if self.rng.random() < 0.2:
            self.conn.send(b"get %s\r\n" % key)
            vals = self.conn.read_values()
            self.c["get_keys"] += 1
            self.c["get_hits"] += self.check_values([key], vals)
            if vals and len(vals[0][2]) > 150000:
                self.storage_reply("set", self.conn.store(b"set", key, rec))

    # ------------------------------------------------------------ private keys

    def op_private(self):
        key = b"p:%d:%d" % (self.wid, self.rng.randrange(N_PRIVATE))
        flags = self.rng.randrange(1 << 32)
        value = self.next_value(key, flags=flags)
        if self.rng.random() < 0.5:
            got = self.storage_reply("set", self.conn.store(b"set", key, value, flags))
            ok = got == b"STORED"
        else:
            ok = self.storage_reply("ms", self.conn.meta_set(key, value, flags), (b"HD",)) == b"HD"
        if ok:
            self.private[key] = value
        self.conn.send(b"get %s\r\n" % key)
        vals = self.conn.read_values()
        self.c["get_keys"] += 1
        self.c["get_hits"] += self.check_values([key], vals)
        if key in self.private and not vals:
            self.c["private_misses"] += 1

    # ------------------------------------------------------------ pipelines

    def op_pipeline(self):
        """A batch of small sets and gets in one write, replies read after."""
        plan = []
        out = []
        for _ in range(self.rng.randrange(5, 60)):
            key = shared_key(self.rng)
            if self.rng.random() < 0.3:
                value = self.next_value(key, size=self.rng.randrange(1, 200))
                out.append(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
                plan.append(("set", key))
            else:
                out.append(b"get %s\r\n" % key)
                plan.append(("get", key))
        self.conn.send(b"".join(out))
        for kind, key in plan:
            if kind == "set":
                self.storage_reply("pipelined set", self.conn.readline())
            else:
                self.c["get_keys"] += 1
                self.c["get_hits"] += self.check_values([key], self.conn.read_values())

    def op_fault_keys(self):
        """Keys the fault injector writes half of: never a partial value."""
        keys = [b"x:%d" % i for i in range(8)]
        self.conn.send(b"get %s\r\n" % b" ".join(keys))
        self.c["get_keys"] += len(keys)
        self.c["get_hits"] += self.check_values(keys, self.conn.read_values())

    # ------------------------------------------------------------ loop

    def run(self):
        budget = self.sh.args.max_ops
        next_reconnect = 0
        while not self.sh.stop.is_set() and self.c["ops"] < budget:
            op = self.rng.choice(self.ops)
            try:
                if self.conn is None or self.c["ops"] >= next_reconnect:
                    self.reconnect()
                    next_reconnect = self.c["ops"] + self.rng.randrange(20, 2000)
                op()
                self.c["ops"] += 1
            except BadValue as e:
                self.bad(op.__name__, "BAD VALUE: %s" % e)
                self.drop()
            except IO_ERRORS as e:
                if not self.sh.stop.is_set():
                    self.bad(op.__name__, repr(e))
                self.drop()
        self.drop()
        self.sh.merge(self.c)
        with self.sh.lock:
            for k, v in self.cas_wins.items():
                self.sh.cas_wins[k].extend(v)
            for k, v in self.incr_seen.items():
                self.sh.incr_seen[k].extend(v)
            self.sh.resets.update(self.resets)

    def reconnect(self):
        self.drop()
        t0 = time.monotonic()
        self.conn = self.sh.connect(self.use_tls)
        self.c["connections"] += 1
        self.c["tls_handshakes" if self.use_tls else "plain_connects"] += 1
        self.sh.timings["connect_tls" if self.use_tls else "connect_plain"].append(
            time.monotonic() - t0)

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Filler(Client):
    """Writes fresh large values at a steady rate so memory fills and evicts.

    Its keys f:<n> are never rewritten; it reads some back (a miss is fine:
    eviction). With -m full, RSS must still stay under the stated bound.
    """

    def __init__(self, sh, wid, use_tls, seed, mb_per_second):
        super().__init__(sh, wid, use_tls, seed)
        self.name = "filler-%d" % wid
        self.rate = mb_per_second * 1024 * 1024
        self.n = 0
        self.ops = [self.op_fill]

    def op_fill(self):
        self.n += 1
        key = b"f:%d:%d" % (self.wid, self.n)
        value = self.next_value(key, size=self.rng.randrange(20000, 200000))
        self.storage_reply("set", self.conn.store(b"set", key, value))
        self.c["filler_sets"] += 1
        if self.rng.random() < 0.2:
            old = b"f:%d:%d" % (self.wid, self.rng.randrange(1, self.n + 1))
            self.conn.send(b"get %s\r\n" % old)
            self.c["get_keys"] += 1
            self.c["get_hits"] += self.check_values([old], self.conn.read_values())
        self.sh.stop.wait(len(value) / self.rate)
