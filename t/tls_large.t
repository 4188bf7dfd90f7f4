#!/usr/bin/perl
# Bulk traffic over TLS: 1 MB values both ways and deep pipelines, with the
# write staging buffer (ssl_wbuf_size, KB) at its smallest, its default and
# larger than a TLS record, so replies are cut into chunks at every size and
# partial writes happen against a slow reader.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;
require IO::Socket::SSL;

my $d = MCTest::cert_dir();
my $mb = 1024 * 1024;

# Pseudo-random, so a misplaced chunk cannot compare equal.
sub pattern {
    my ($n, $seed) = @_;
    my $unit = join('', map { chr(33 + (($_ * 7 + $seed) % 90)) } 0 .. 1008);
    return substr($unit x (int($n / length $unit) + 1), 0, $n);
}

for my $wbuf (1, 16, 64) {
    my $srv = MCTest::new_server("-I 2m -m 128 -Z -o ssl_chain_cert=$d/server_crt.pem,"
        . "ssl_key=$d/server_key.pem,ssl_wbuf_size=$wbuf", { tls => 1, no_tls_args => 1 });
    my $s = $srv->new_tls_sock;
    is(MCTest::mem_stats($s, 'settings')->{ssl_wbuf_size}, $wbuf * 1024,
        "wbuf $wbuf: stats settings ssl_wbuf_size in bytes");

    my $big = pattern($mb, $wbuf);
    is(MCTest::mem_set($s, 'big', $big), "STORED\r\n", "wbuf $wbuf: 1 MB value stored");
    MCTest::mem_get_is($s, 'big', $big, "wbuf $wbuf: 1 MB value read back");

    # Three 1 MB values in one get, read slowly: the server hits a full socket.
    MCTest::mem_set($s, "big$_", pattern($mb, $_)) for 1 .. 2;
    MCTest::send_cmd($s, "get big big1 big2\r\n");
    sleep 0.3;
    my $v = MCTest::read_values($s);
    ok($v && @$v == 3 && $v->[0][2] eq $big && $v->[1][2] eq pattern($mb, 1)
        && $v->[2][2] eq pattern($mb, 2), "wbuf $wbuf: 3 MB reply against a slow reader");

    # A deep pipeline: 2000 sets and gets in one write.
    my $n = 2000;
    my $req = join('', map { "set p$_ 0 0 " . length("val$_") . "\r\nval$_\r\nget p$_\r\n" } 1 .. $n);
    my $t0 = time;
    MCTest::send_cmd($s, $req);
    my $bad = 0;
    for my $i (1 .. $n) {
        my $st = MCTest::read_line($s);
        my $g = MCTest::read_values($s);
        $bad++ unless defined $st && $st eq "STORED\r\n" && $g && @$g == 1 && $g->[0][2] eq "val$i";
        last if $bad > 5;
    }
    is($bad, 0, "wbuf $wbuf: $n pipelined set+get pairs answered in order");
    cmp_ok(time - $t0, '<', 10, "wbuf $wbuf: in reasonable time");
    is(MCTest::cmd_line($s, "version\r\n"), "VERSION 1.6.18\r\n", "wbuf $wbuf: connection still in sync");
}

done_testing();
