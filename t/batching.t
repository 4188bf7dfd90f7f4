#!/usr/bin/perl
# Wakeup batching (-o batch_wait_us, ours; see thread.c): the option is
# parsed, bounded and shown in "stats settings"; many connections sending at
# once, with a nap long enough to be sure to happen, all get every reply in
# order; and a lone client, which waits on each reply, is never held by a
# nap. memcached 1.6.18 has no such option, so the file skips there.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use MCTest;

plan skip_all => 'memcached 1.6.18 has no batch_wait_us' if MCTest::is_reference();

my @user = $> == 0 ? ('-u', 'root') : ();

# ---- parsing
for my $bad (qw(100001 -1 abc)) {
    my ($rc, $out) = MCTest::run_bin(['-o', "batch_wait_us=$bad", '-l', '127.0.0.1', '-p',
        MCTest::free_port(), @user]);
    isnt($rc, 0, "batch_wait_us=$bad refused");
    like($out, qr/could not parse argument to batch_wait_us/, "batch_wait_us=$bad: the error names it");
}
{
    my $srv = MCTest::new_server('-o batch_wait_us=0');
    is(MCTest::mem_stats($srv->sock, 'settings')->{batch_wait_us}, 0, '0 turns it off');
    my $def = MCTest::new_server();
    is(MCTest::mem_stats($def->sock, 'settings')->{batch_wait_us}, 20, 'default 20');
    is(MCTest::sync_reply($def->sock, "set k 0 0 1\r\nv\r\n"), "STORED\r\n", 'default serves');
}

# ---- many connections at once under a 5 ms nap
my $srv = MCTest::new_server('-o batch_wait_us=5000');
is(MCTest::mem_stats($srv->sock, 'settings')->{batch_wait_us}, 5000, 'stats settings shows it');
my @socks = map { $srv->new_sock } 1 .. 10;
my $all_ok = 1;
for my $wave (1 .. 3) {
    # Every connection writes its whole batch before any reply is read, so
    # the worker finds several ready at once and naps between its polls.
    for my $i (0 .. $#socks) {
        my $raw = '';
        for my $j (1 .. 30) {
            my $v = "w$wave-c$i-$j";
            $raw .= "set b:$i:$j 0 0 " . length($v) . "\r\n$v\r\nget b:$i:$j\r\n";
        }
        MCTest::send_cmd($socks[$i], $raw) or $all_ok = 0;
    }
    for my $i (0 .. $#socks) {
        for my $j (1 .. 30) {
            my $v = "w$wave-c$i-$j";
            my $want = "STORED\r\nVALUE b:$i:$j 0 " . length($v) . "\r\n$v\r\nEND\r\n";
            my $got = MCTest::read_line($socks[$i]) // '';
            $got .= MCTest::read_reply_until_end($socks[$i]) // '';
            if ($got ne $want) {
                $all_ok = 0;
                diag("wave $wave conn $i cmd $j: got '$got'");
                last;
            }
        }
    }
}
ok($all_ok, '10 connections x 3 waves x 30 set+get: every reply, in order');
is(MCTest::sync_reply($srv->sock, "get b:9:30\r\n"), "VALUE b:9:30 0 8\r\nw3-c9-30\r\nEND\r\n",
   'the last value stored is there');

# ---- a lone client is never napped on
{
    my $lone = MCTest::new_server('-o batch_wait_us=100000');
    my $s = $lone->sock;
    MCTest::sync_reply($s, "set one 0 0 1\r\nx\r\n");
    my $t0 = time;
    my $good = 0;
    for (1 .. 20) {
        $good++ if (MCTest::sync_reply($s, "get one\r\n") // '') eq "VALUE one 0 1\r\nx\r\nEND\r\n";
    }
    my $took = time - $t0;
    is($good, 20, '20 round trips answered');
    # Napped on, each would take at least 100 ms: 2 s in all.
    cmp_ok($took, '<', 1.5, sprintf('one client waiting on each reply is not held by a nap (%.3f s)', $took));
}

done_testing();
