#!/usr/bin/perl
# Stale-while-revalidate and anti-stampede flows of the meta protocol, across
# two connections: N vivify (W then Z), md/ms invalidation (X with W or Z),
# R early recache, and how they interact with CAS and TTL (memcached 1.6.18).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MCTest;

# ---- shared by t/meta*.t (kept inline so each file stands alone) ----
use Time::HiRes qw(time);

# Show control bytes and cut long strings so a failure prints something readable.
sub esc {
    my $s = shift;
    return 'undef' unless defined $s;
    my $len = length $s;
    $s = substr($s, 0, 150) . '...' . substr($s, -60) . " ($len bytes)" if $len > 240;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/([^\x20-\x7e\\])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# Byte-exact comparison; the diagnostic is shortened, the comparison never is.
sub bytes_is {
    my ($got, $want, $name) = @_;
    return pass($name) if defined $got && $got eq $want;
    fail($name);
    diag("     got: " . esc($got) . "\nexpected: " . esc($want));
    return 0;
}

sub send_all { MCTest::send_cmd($_[0], $_[1]) or die "send failed: $!" }

# Read until $done->($buf) is true; give up after $timeout seconds so a hang fails.
sub read_until {
    my ($s, $done, $timeout) = @_;
    my ($buf, $deadline) = ('', time + ($timeout // 3));
    until ($done->($buf)) {
        my $left = $deadline - time;
        last if $left <= 0 || !MCTest::wait_readable($s, $left);
        my $n = sysread($s, my $chunk, 1 << 20);
        last unless $n;
        $buf .= $chunk;
    }
    return $buf;
}

# Send $cmd followed by "mn": the reply must be exactly $want then "MN\r\n".
# The trailing mn proves suppressed (quiet) replies really were not sent.
sub mc_is {
    my ($s, $cmd, $want, $name) = @_;
    send_all($s, $cmd . "mn\r\n");
    my $full = $want . "MN\r\n";
    bytes_is(read_until($s, sub { length($_[0]) >= length($full) && $_[0] =~ /MN\r\n\z/ }),
             $full, $name);
}

# Send raw bytes and read exactly length($want) bytes (no mn sync).
sub raw_is {
    my ($s, $cmd, $want, $name) = @_;
    send_all($s, $cmd);
    bytes_is(read_until($s, sub { length($_[0]) >= length($want) }), $want, $name);
}

# Send $cmd + mn and return the reply without the trailing MN (for values we must parse).
sub mc_reply {
    my ($s, $cmd) = @_;
    send_all($s, $cmd . "mn\r\n");
    my $got = read_until($s, sub { $_[0] =~ /MN\r\n\z/ });
    $got =~ s/MN\r\n\z//;
    return $got;
}

# CAS of a key via mg (undef on miss).
sub cas_of {
    my ($s, $key) = @_;
    my $r = mc_reply($s, "mg $key c\r\n");
    return $r =~ /^HD c(\d+)/ ? $1 : undef;
}
# ---- end shared ----

my $srv = MCTest::new_server();
my $ca   = $srv->new_sock;
my $cb   = $srv->new_sock;

# --- N: vivify on miss; one winner, everybody else sees Z ---
my $r = mc_reply($ca, "mg viv N30 v c t s\r\n");
like($r, qr/^VA 0 c(\d+) t(29|30) s0 W\r\n\r\n\z/, "A misses, vivifies and wins");
my ($vcas) = $r =~ /c(\d+)/;
like(mc_reply($cb, "mg viv N30 v c t\r\n"), qr/^VA 0 c$vcas t(29|30) Z\r\n\r\n\z/, "B sees the stub and Z");
like(mc_reply($cb, "mg viv v\r\n"), qr/^VA 0 Z\r\n\r\n\z/, "Z shows without N too");
mc_is($cb, "mg viv q k\r\n", "HD kviv Z\r\n", "q does not hide the stub hit");
mc_is($cb, "ms viv 3 C" . ($vcas + 1000) . "\r\nbad\r\n", "EX\r\n", "B cannot store with a made-up CAS");
mc_is($ca, "ms viv 3 C$vcas T60\r\nnew\r\n", "HD\r\n", "A fills it with the CAS it won");
mc_is($cb, "ms viv 3 C$vcas\r\nold\r\n", "EX\r\n", "B's late store with the same CAS fails");
like(mc_reply($cb, "mg viv N30 v t\r\n"), qr/^VA 3 t(59|60)\r\nnew\r\n\z/, "B now gets the value, no flags");
mc_is($ca, "mg viv2 t N30 q k O1\r\n", "HD t-1 kviv2 O1 W\r\n", "t before N shows no TTL; q does not hide W");
like(mc_reply($ca, "mg viv2 t\r\n"), qr/^HD t(29|30) Z\r\n\z/, "then the N TTL applies");
mc_is($ca, "mg viv3 N0 v\r\n", "VA 0 W\r\n\r\n", "N0 vivifies without TTL");
mc_is($ca, "mg viv3 t\r\n", "HD t-1 Z\r\n", "no TTL");
mc_is($ca, "md viv3\r\n", "HD\r\n", "deleting the stub");
mc_is($cb, "mg viv3 N30\r\n", "HD W\r\n", "lets the next caller win again");

# Many clients race for the same missing key: exactly one wins.
my @socks = map { $srv->new_sock } 1 .. 8;
send_all($_, "mg hot N30 v O1\r\nmn\r\n") for @socks;
my @replies = map { my $r = read_until($_, sub { $_[0] =~ /MN\r\n\z/ }); $r } @socks;
is(scalar(grep { $_ eq "VA 0 O1 W\r\n\r\nMN\r\n" } @replies), 1, "one W among 8 racing clients");
is(scalar(grep { $_ eq "VA 0 O1 Z\r\n\r\nMN\r\n" } @replies), 7, "seven Z");

# --- md I: invalidate; stale data is served, one client revalidates ---
mc_is($ca, "ms inv 3 T100\r\nold\r\n", "HD\r\n", "store inv");
my $c1 = cas_of($ca, 'inv');
mc_is($ca, "md inv I T30\r\n", "HD\r\n", "invalidate with a shorter TTL");
$r = mc_reply($ca, "mg inv v c t\r\n");
like($r, qr/^VA 3 c(\d+) t(29|30) X W\r\nold\r\n\z/, "A gets stale data and wins");
my ($c2) = $r =~ /c(\d+)/;
ok($c2 > $c1, "invalidation bumped the CAS");
like(mc_reply($cb, "mg inv v c\r\n"), qr/^VA 3 c$c2 Z X\r\nold\r\n\z/, "B gets stale data and Z");
like(mc_reply($cb, "mg inv N30 R90 v\r\n"), qr/^VA 3 Z X\r\nold\r\n\z/, "N and R do not win again");
mc_is($cb, "ms inv 3 C$c1\r\nxxx\r\n", "EX\r\n", "a writer holding the pre-invalidation CAS gets EX");
$r = mc_reply($cb, "ms inv 3 C$c1 I c\r\nxxx\r\n");
like($r, qr/^HD c(\d+)\r\n\z/, "with I the old-CAS write is accepted");
my ($c3) = $r =~ /c(\d+)/;
ok($c3 > $c2, "with a fresh CAS");
mc_is($ca, "mg inv v c\r\n", "VA 3 c$c3 Z X\r\nxxx\r\n", "but the item stays stale and keeps the sent token");
mc_is($cb, "mg inv v c\r\n", "VA 3 c$c3 Z X\r\nxxx\r\n", "so nobody wins it again");
mc_is($ca, "ms inv 3 C$c3 T100\r\nnew\r\n", "HD\r\n", "the winner stores with the current CAS");
mc_is($cb, "mg inv v\r\n", "VA 3\r\nnew\r\n", "fresh again: no X, no Z");
mc_is($cb, "mg inv v\r\n", "VA 3\r\nnew\r\n", "and nothing to win");

# Invalidation gated by CAS.
my $c4 = cas_of($ca, 'inv');
mc_is($ca, "md inv I C" . ($c4 + 1000) . "\r\n", "EX\r\n", "md I with a wrong CAS");
mc_is($cb, "mg inv v\r\n", "VA 3\r\nnew\r\n", "not invalidated");
mc_is($ca, "md inv I C$c4 q\r\n", "", "md I with the right CAS (quiet)");
mc_is($cb, "mg inv v q\r\n", "VA 3 X W\r\nnew\r\n", "invalidated; q still returns the hit");

# A stale store keeps the old TTL and the token state, takes the new flags.
mc_is($ca, "ms sk 1 T100\r\na\r\n", "HD\r\n", "store sk");
my $k1 = cas_of($ca, 'sk');
mc_is($ca, "ms sk 1 T500 F3 I C" . ($k1 - 1) . "\r\nb\r\n", "HD\r\n", "stale store on a fresh item");
like(mc_reply($ca, "mg sk t f v\r\n"), qr/^VA 1 t(99|100) f3 X W\r\nb\r\n\z/, "old TTL, new flags, X W");
mc_is($ca, "ms sk 1 T0 I C" . ($k1 - 1) . "\r\nd\r\n", "HD\r\n", "stale store again");
like(mc_reply($cb, "mg sk t f v\r\n"), qr/^VA 1 t(99|100) f0 Z X\r\nd\r\n\z/, "token kept: Z X");

# A plain store clears the stale state and the token.
mc_is($ca, "ms inv 1\r\nz\r\n", "HD\r\n", "plain store");
mc_is($cb, "mg inv v\r\n", "VA 1\r\nz\r\n", "clean");

# --- R: win the recache when the TTL runs low ---
mc_is($ca, "ms rc 1 T60\r\nv\r\n", "HD\r\n", "store with 60s TTL");
like(mc_reply($ca, "mg rc R30 t\r\n"), qr/^HD t(59|60)\r\n\z/, "TTL above the threshold: no win");
like(mc_reply($ca, "mg rc R61 t\r\n"), qr/^HD t(59|60) W\r\n\z/, "TTL below the threshold: win");
like(mc_reply($cb, "mg rc R61 t\r\n"), qr/^HD t(59|60) Z\r\n\z/, "second client: Z");
like(mc_reply($cb, "mg rc t\r\n"), qr/^HD t(59|60) Z\r\n\z/, "Z without R as well");
like(mc_reply($cb, "mg rc T100 R61 t\r\n"), qr/^HD t(99|100) Z\r\n\z/, "touch does not clear the token");
mc_is($ca, "ms rc 1 T60\r\nw\r\n", "HD\r\n", "recache");
like(mc_reply($cb, "mg rc R61 t v\r\n"), qr/^VA 1 t(59|60) W\r\nw\r\n\z/, "a new item can be won again");
mc_is($ca, "ms rc 1 T0\r\nv\r\n", "HD\r\n", "store without TTL");
mc_is($ca, "mg rc R999999 t\r\n", "HD t-1\r\n", "no TTL never wins by R");
mc_is($ca, "mg rc R999999 N30 t\r\n", "HD t-1\r\n", "N on a hit does not win");
mc_is($ca, "mg rcmiss R30 q\r\n", "", "R on a miss does not create");
mc_is($ca, "mg rc2 N30 R90 t\r\n", "HD t30 W\r\n", "N and R on a miss: one W");
mc_is($ca, "mg rc2 N30 R90 t\r\n", "HD t30 Z\r\n", "then Z");

# --- TTL expiry of stubs and stale items (the one sleep in this file) ---
mc_is($ca, "mg exp1 N1\r\n", "HD W\r\n", "vivify with a 1s TTL");
mc_is($ca, "ms exp2 3 T100\r\nold\r\n", "HD\r\n", "store exp2");
mc_is($ca, "md exp2 I T1\r\n", "HD\r\n", "invalidate with a 1s TTL");
mc_is($ca, "ms exp3 1 T1\r\nx\r\n", "HD\r\n", "store with a 1s TTL");
mc_is($cb, "mg exp1 N1\r\n", "HD Z\r\n", "stub still there");
sleep 2;
mc_is($cb, "mg exp1 N30\r\n", "HD W\r\n", "expired stub: the next caller wins a new one");
mc_is($cb, "mg exp2 v\r\n", "EN\r\n", "stale item expired by its T");
mc_is($cb, "mg exp2 N30 v\r\n", "VA 0 W\r\n\r\n", "and can be vivified");
mc_is($cb, "mg exp3 v q\r\n", "", "plain TTL expiry");

done_testing();
