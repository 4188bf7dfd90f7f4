#!/usr/bin/perl
# incr/decr: 64-bit arithmetic, wrap and floor, how the stored value's
# length changes, value and delta parsing, noreply and stats.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;

my $srv = MCTest::new_server();
my $s = $srv->sock;

sub reply_is {
    my ($raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($s, $raw), $want, $name);
}

sub set_ok {
    my ($k, $v, $f) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::mem_set($s, $k, $v, $f // 0), "STORED\r\n", "set $k = '$v'");
}

sub raw_get_is {
    my ($k, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($s, "get $k\r\n"), $want, $name);
}

# A result shorter than the stored value: memcached rewrites the item in
# place, right-padded with spaces to the old length, when it holds the only
# reference; if a background thread (LRU maintainer/crawler) holds the item
# at that instant it stores a new item of the exact length instead. Both
# forms are accepted; nothing else is.
sub shorter_is {
    my ($k, $flags, $oldlen, $num, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    # (an earlier step may itself have taken the exact-length path, so any
    # padding up to the old length is accepted)
    my $got = MCTest::sync_reply($s, "get $k\r\n");
    my @ok = map { "VALUE $k $flags $_\r\n" . $num . (' ' x ($_ - length $num)) . "\r\nEND\r\n" }
        length($num) .. $oldlen;
    ok(defined $got && grep({ $got eq $_ } @ok), $name)
        or diag("got: " . ($got // 'undef') . "\nwant: $ok[-1]\n  or shorter padding");
}

my $NONNUM = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
my $BADDELTA = "CLIENT_ERROR invalid numeric delta argument\r\n";

# ---- basics
set_ok('n', '1');
reply_is("incr n 1\r\n", "2\r\n", 'incr 1');
reply_is("incr n 8\r\n", "10\r\n", 'incr to two digits');
raw_get_is('n', "VALUE n 0 2\r\n10\r\nEND\r\n", 'value grew to 2 bytes');
reply_is("decr n 1\r\n", "9\r\n", 'decr to one digit');
shorter_is('n', 0, 2, '9', 'shorter result is space-padded in place');
reply_is("incr n 91\r\n", "100\r\n", 'incr from padded value');
raw_get_is('n', "VALUE n 0 3\r\n100\r\nEND\r\n", 'padded value grows');
reply_is("decr n 1\r\n", "99\r\n", 'decr 100 -> 99');
shorter_is('n', 0, 3, '99', 'length stays 3');
reply_is("decr n 1000\r\n", "0\r\n", 'decr floors at 0');
shorter_is('n', 0, 3, '0', 'zero padded to old length');
reply_is("decr n 1\r\n", "0\r\n", 'decr at 0 stays 0');
reply_is("incr n 0\r\n", "0\r\n", 'incr by 0');

# ---- 64-bit range
set_ok('w', '18446744073709551614');
reply_is("incr w 1\r\n", "18446744073709551615\r\n", 'incr to 2^64-1');
reply_is("incr w 1\r\n", "0\r\n", 'incr wraps to 0');
shorter_is('w', 0, 20, '0', 'wrapped value padded to 20 bytes');
reply_is("incr w 18446744073709551615\r\n", "18446744073709551615\r\n", 'delta 2^64-1');
reply_is("incr w 2\r\n", "1\r\n", 'wrap by more than one');
set_ok('w2', '5');
reply_is("decr w2 18446744073709551615\r\n", "0\r\n", 'decr by 2^64-1 floors');
set_ok('big', '18446744073709551615');
reply_is("decr big 1\r\n", "18446744073709551614\r\n", 'decr from 2^64-1');

# ---- flags and cas survive
set_ok('f', '99', 1234);
my ($cas1) = MCTest::mem_gets($s, 'f');
reply_is("incr f 1\r\n", "100\r\n", 'incr that needs a longer item');
raw_get_is('f', "VALUE f 1234 3\r\n100\r\nEND\r\n", 'flags kept on a new item');
my ($cas2) = MCTest::mem_gets($s, 'f');
ok($cas2 != $cas1, 'cas changed by incr');
reply_is("incr f 0\r\n", "100\r\n", 'incr 0');
my ($cas3) = MCTest::mem_gets($s, 'f');
ok($cas3 != $cas2, 'even incr 0 changes cas');
reply_is("decr f 1\r\n", "99\r\n", 'in-place decr');
shorter_is('f', 1234, 3, '99', 'flags kept in place');

# ---- value parsing
set_ok('z', '007');
reply_is("incr z 0\r\n", "7\r\n", 'leading zeros');
shorter_is('z', 0, 3, '7', 'rewritten without zeros');
set_ok('sp', ' 12');
reply_is("incr sp 1\r\n", "13\r\n", 'leading space accepted');
set_ok('sp2', '12 ');
reply_is("incr sp2 1\r\n", "13\r\n", 'trailing space accepted');
shorter_is('sp2', 0, 3, '13', 'trailing-space value rewritten');
set_ok('sp3', '1 23');
reply_is("incr sp3 1\r\n", "2\r\n", 'number ends at the first space');
shorter_is('sp3', 0, 4, '2', 'rest of the value overwritten with spaces');
set_ok('abc', 'abc');
reply_is("incr abc 1\r\n", $NONNUM, 'incr non-numeric');
reply_is("decr abc 1\r\n", $NONNUM, 'decr non-numeric');
set_ok('e', '');
reply_is("incr e 1\r\n", $NONNUM, 'incr empty value');
set_ok('neg', '-12');
reply_is("incr neg 1\r\n", $NONNUM, 'incr negative value');
set_ok('long', '184467440737095516160');
reply_is("incr long 1\r\n", $NONNUM, 'incr 21-digit value');
set_ok('ov', '18446744073709551616');
reply_is("incr ov 1\r\n", $NONNUM, 'incr value 2^64');
set_ok('x1', '1x');
reply_is("incr x1 1\r\n", $NONNUM, 'incr value with trailing junk');
raw_get_is('abc', "VALUE abc 0 3\r\nabc\r\nEND\r\n", 'non-numeric value untouched');

# ---- delta parsing
set_ok('d', '5');
reply_is("incr d -1\r\n", $BADDELTA, 'negative delta');
reply_is("incr d abc\r\n", $BADDELTA, 'non-numeric delta');
reply_is("incr d 1x\r\n", $BADDELTA, 'delta with junk');
reply_is("decr d 1.5\r\n", $BADDELTA, 'fractional delta');
reply_is("incr d 18446744073709551616\r\n", $BADDELTA, 'delta 2^64');
reply_is("incr nope abc\r\n", $BADDELTA, 'bad delta checked before the key');
reply_is("incr d 01\r\n", "6\r\n", 'delta with leading zero');

# ---- misses, tokens, noreply
reply_is("incr nope 1\r\n", "NOT_FOUND\r\n", 'incr miss');
reply_is("decr nope 1\r\n", "NOT_FOUND\r\n", 'decr miss');
reply_is("incr\r\n", "ERROR\r\n", 'bare incr');
reply_is("incr d\r\n", "ERROR\r\n", 'incr without delta');
reply_is("decr d\r\n", "ERROR\r\n", 'decr without delta');
reply_is("incr d 1 2 3\r\n", "ERROR\r\n", 'incr with 5 words');
reply_is("incr d 1 2\r\n", "7\r\n", 'a 4th word that is not noreply is ignored');
reply_is("INCR d 1\r\n", "ERROR\r\n", 'upper case');
reply_is("incr d 1 noreply\r\n", '', 'incr noreply');
reply_is("decr d 3 noreply\r\n", '', 'decr noreply');
reply_is("incr nope 1 noreply\r\n", '', 'incr miss noreply');
reply_is("incr abc 1 noreply\r\n", '', 'non-numeric error hidden by noreply');
reply_is("incr d x noreply\r\n", '', 'bad delta hidden by noreply');
raw_get_is('d', "VALUE d 0 1\r\n5\r\nEND\r\n", 'noreply arithmetic took effect');
my $k251 = 'k' x 251;
reply_is("incr $k251 1\r\n", "CLIENT_ERROR bad command line format\r\n", 'key too long');
reply_is("decr $k251 1\r\n", "CLIENT_ERROR bad command line format\r\n", 'decr key too long');

# ---- stats
{
    my $c = $srv->new_sock;
    my $b = MCTest::mem_stats($c);
    MCTest::sync_reply($c, "incr d 1\r\nincr nope 1\r\ndecr d 1\r\ndecr d 1\r\ndecr nope 1\r\nincr abc 1\r\n");
    my $a = MCTest::mem_stats($c);
    my %d = map { $_ => $a->{$_} - $b->{$_} } qw(incr_hits incr_misses decr_hits decr_misses);
    is_deeply(\%d, { incr_hits => 1, incr_misses => 1, decr_hits => 2, decr_misses => 1 },
        'incr/decr hit and miss counters');
}

done_testing();
