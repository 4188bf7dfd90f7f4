#!/usr/bin/perl
# Connection handling: the -c limit, idle_timeout, UNIX sockets (-s, -a),
# pipelining, and clients that vanish in the middle of a command.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;
use Time::HiRes qw(time sleep);

sub reply_is {
    my ($sock, $raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($sock, $raw), $want, $name);
}

# ---- -c: connections beyond the limit get an error line and are closed
{
    my $srv = MCTest::new_server('-c 30');
    is(MCTest::mem_stats($srv->sock, 'settings')->{maxconns}, 30, 'maxconns 30');
    is(MCTest::mem_stats($srv->sock)->{max_connections}, 30, 'max_connections 30');
    # Plain sockets: the refusal is written before any TLS handshake could
    # happen (MCTest provides a plain listener under SSL_TEST too).
    my (@ok, $reject);
    for (1 .. 40) {
        my $c = eval { $srv->new_plain_sock } or last;
        my $r = MCTest::sync_reply($c, '');
        if (defined $r && $r eq '') { push @ok, $c; next }
        $reject = $c;
        last;
    }
    cmp_ok(scalar(@ok), '>=', 1, 'some connections accepted (' . scalar(@ok) . ')');
    cmp_ok(scalar(@ok), '<', 30, 'fewer than -c (the limit includes reserved descriptors)');
    ok($reject, 'then a connection is refused');
    if ($reject) {
        # sync_reply already consumed what it saw; check from a fresh one.
        my $c = $srv->new_plain_sock;
        is(MCTest::read_line($c), "ERROR Too many open connections\r\n", 'refusal line, sent unprompted');
        ok(MCTest::is_closed($c), 'and the connection is closed');
    }
    is(MCTest::mem_stats($srv->sock)->{rejected_connections}, 2, 'rejected_connections counts both');
    if (MCTest::is_tls()) {
        my $t = eval { $srv->new_tls_sock };
        ok(!$t, 'a TLS client gets no session while full');
    }
    close(shift @ok) if @ok;
    my $new;
    my $deadline = time + 3;
    while (time < $deadline) {
        my $c = $srv->new_plain_sock;
        my $r = MCTest::sync_reply($c, "get x\r\n");
        if (defined $r && $r eq "END\r\n") { $new = $c; last }
        sleep 0.1;
    }
    ok($new, 'after one client leaves, a new connection is served');
    is(MCTest::cmd_line($srv->sock, "version\r\n") =~ /^VERSION/ ? 1 : 0, 1, 'existing connections unaffected');
}

# ---- idle_timeout
{
    my $srv = MCTest::new_server('-o idle_timeout=1');
    my $idle = $srv->new_sock;
    my $busy = $srv->new_sock;
    reply_is($idle, "get a\r\n", "END\r\n", 'idle connection works at first');
    my $t0 = time;
    my ($closed_at, $busy_bad) = (undef, 0);
    while (time - $t0 < 5) {
        my $r = MCTest::sync_reply($busy, "get a\r\n");
        $busy_bad++ unless defined $r && $r eq "END\r\n";
        if (MCTest::is_closed($idle, 0.25)) { $closed_at = time - $t0; last }
    }
    is($busy_bad, 0, 'a connection that keeps talking is never cut');
    ok(defined $closed_at, 'idle connection closed by the server');
    is(MCTest::read_all($idle, 0.1), '', 'without a message');
    reply_is($busy, "get a\r\n", "END\r\n", 'active connection still open');
    my $st = MCTest::mem_stats($busy);
    cmp_ok($st->{idle_kicks}, '>=', 1, 'idle_kicks counts it');
    is(MCTest::mem_stats($busy, 'settings')->{idle_timeout}, 1, 'stats settings idle_timeout');
}

# ---- pipelining: many commands, replies in order
{
    my $srv = MCTest::new_server();
    my $s = $srv->sock;
    my (@cmds, $want);
    for my $i (1 .. 500) {
        push @cmds, "set p$i 0 0 " . length($i) . "\r\n$i\r\n", "get p$i\r\n", "incr p$i 1\r\n";
        $want .= "STORED\r\nVALUE p$i 0 " . length($i) . "\r\n$i\r\nEND\r\n" . ($i + 1) . "\r\n";
    }
    # Whole commands per write, each under one TLS record: the reference
    # over TLS stalls when a record ends inside a value.
    my $buf = '';
    for my $c (@cmds) {
        if (length($buf) + length($c) > 15000) { MCTest::send_cmd($s, $buf); $buf = '' }
        $buf .= $c;
    }
    MCTest::send_cmd($s, $buf);
    my $got = MCTest::sync_reply($s, '');
    is(length($got // ''), length($want), 'pipelined replies: total length');
    ok(defined $got && $got eq $want, '1500 pipelined commands answered in order');
    # Many gets in one write.
    my $g = join('', map { "get p$_\r\n" } 1 .. 300);
    my $gw = join('', map { my $v = $_ + 1; "VALUE p$_ 0 " . length($v) . "\r\n$v\r\nEND\r\n" } 1 .. 300);
    reply_is($s, $g, $gw, '300 gets in one write');
    reply_is($s, "get p1\r\nget p2\nget p3\r\n", "VALUE p1 0 1\r\n2\r\nEND\r\nVALUE p2 0 1\r\n3\r\nEND\r\n"
        . "VALUE p3 0 1\r\n4\r\nEND\r\n", 'mixed line endings in one write');
    # One command split over many writes, one byte at a time.
    my $c = $srv->new_sock;
    for my $ch (split //, "set split 0 0 5\r\nhello\r\n") {
        MCTest::send_cmd($c, $ch);
    }
    is(MCTest::read_line($c), "STORED\r\n", 'command delivered byte by byte');
    MCTest::mem_get_is($c, 'split', 'hello', 'and stored correctly');
}

# ---- clients that vanish
{
    my $srv = MCTest::new_server();
    my $s = $srv->sock;
    reply_is($s, "set keep 0 0 4\r\nkeep\r\n", "STORED\r\n", 'baseline item');
    my $b = MCTest::mem_stats($s);
    for my $partial ("set vanish 0 0 100\r\n" . ('x' x 50), "get keep keep ke", "set vanish 0 0 5",
                     "set vanish 0 0 100000\r\n" . ('y' x 40000)) {
        my $c = $srv->new_sock;
        MCTest::send_cmd($c, $partial);
        sleep 0.05;
        close $c;
    }
    # A client that asks for a big reply and leaves without reading it.
    reply_is($s, "set big 0 0 500000\r\n" . ('b' x 500000) . "\r\n", "STORED\r\n", 'big item');
    {
        my $c = $srv->new_sock;
        MCTest::send_cmd($c, join('', ("get big\r\n") x 20));
        sleep 0.1;
        close $c;
    }
    my $v = MCTest::wait_for_stat($s, '', 'curr_connections', sub { $_[0] == $b->{curr_connections} }, 3);
    is($v, $b->{curr_connections}, 'the vanished connections are cleaned up');
    reply_is($s, "get vanish keep\r\n", "VALUE keep 0 4\r\nkeep\r\nEND\r\n", 'half-sent value was not stored');
    MCTest::mem_get_is($s, 'big', 'b' x 500000, 'server still serves big values');
    my $n = $srv->new_sock;
    reply_is($n, "set after 0 0 2\r\nok\r\nget after\r\n", "STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n",
        'new connections work');
}

# ---- UNIX socket (plain only)
SKIP: {
    skip 'UNIX sockets are plain-only', 10 if MCTest::is_tls();
    my $u = MCTest::new_unix_server('-a 0770');
    my $s = $u->sock;
    ok(-S $u->unix_path, 'socket file exists');
    is(sprintf('%o', (stat $u->unix_path)[2] & 07777), '770', '-a sets the socket file mode');
    reply_is($s, "set u 0 0 4\r\nunix\r\nget u\r\n", "STORED\r\nVALUE u 0 4\r\nunix\r\nEND\r\n", 'set/get over UNIX socket');
    my $st = MCTest::mem_stats($s, 'settings');
    is($st->{domain_socket}, $u->unix_path, 'stats settings domain_socket');
    is($st->{umask}, 770, 'stats settings umask');
    my $c = MCTest::sync_reply($s, "stats conns\r\n") // '';
    like($c, qr/^STAT \d+:listen_addr unix:\Q${\ $u->unix_path}\E\r\n/m, 'stats conns: client listen_addr unix:<path>');
    like($c, qr/^STAT \d+:state conn_listening\r\n/m, 'stats conns: the listener');
    my $u2 = MCTest::new_unix_server('');
    is(sprintf('%o', (stat $u2->unix_path)[2] & 07777), '700', 'default mode 700');
    is(MCTest::mem_stats($u2->sock, 'settings')->{umask}, 700, 'default umask 700');
    my $cl = MCTest::sync_reply($u2->sock, "stats conns\r\n") // '';
    my @listen = $cl =~ /^STAT \d+:state conn_listening\r\n/mg;
    is(scalar(@listen), 1, '-s disables TCP: the UNIX socket is the only listener');
}

done_testing();
