#!/usr/bin/perl
# Large values: 1 MB round trips, sizes around the 16 KB and slab_chunk_max
# (512 KB) boundaries where items become chunked, multigets of many 100 KB
# values, values delivered in small pieces, append/prepend on big items.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;
use Time::HiRes qw(sleep);

# Patterned data, so that swapped or repeated chunks are detected.
sub pattern {
    my ($n, $seed) = @_;
    my $block = join('', map { sprintf('%08x', $_ * 2654435761 % 4294967296 ^ $seed) } 0 .. 8191);
    my $d = $block x (int($n / length $block) + 1);
    substr($d, 37, 4) = "\r\n\0\n" if $n > 64;    # bytes that must not confuse the parser
    return substr($d, 0, $n);
}

sub store_is {
    my ($sock, $key, $val, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    MCTest::send_cmd($sock, "set $key 0 0 " . length($val) . "\r\n$val\r\n");
    is(MCTest::read_line($sock, 10), "STORED\r\n", $name);
}

sub get_ok {
    my ($sock, $key, $val, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    MCTest::send_cmd($sock, "get $key\r\n");
    my $h = MCTest::read_line($sock, 10);
    my $len = length $val;
    if (!defined $h || $h ne "VALUE $key 0 $len\r\n") {
        fail($name);
        diag('header: ' . ($h // 'undef'));
        return;
    }
    my $d = MCTest::read_bytes($sock, $len + 7, 10);
    ok(defined $d && $d eq "$val\r\nEND\r\n", $name);
}

my $OVERHEAD = 48 + 1 + 2 + 8;    # header, key NUL, CRLF, cas (+ key length)

# ---- 1 MB
{
    my $srv = MCTest::new_server('-I 2m');
    my $s = $srv->sock;
    my $mb = pattern(1024 * 1024, 1);
    store_is($s, 'mb', $mb, 'exactly 1 MB value stored (-I 2m)');
    get_ok($s, 'mb', $mb, '1 MB value read back intact');
    my ($cas, $v) = MCTest::mem_gets($s, 'mb');
    ok(defined $v && $v eq $mb && $cas =~ /^\d+$/, 'gets of a 1 MB value');
    my $d = MCTest::new_server();
    my $max = 1024 * 1024 - $OVERHEAD - 2;
    my $big = pattern($max, 2);
    store_is($d->sock, 'mb', $big, "largest value under the default -I 1m ($max bytes)");
    get_ok($d->sock, 'mb', $big, 'read back intact');
}

# ---- sizes around chunk boundaries
{
    my $srv = MCTest::new_server('-m 128 -I 2m');
    my $s = $srv->sock;
    my $i = 0;
    for my $total (16384, 32768, 65536, 524288, 2 * 524288, 3 * 524288 / 2) {
        for my $delta (-1, 0, 1) {
            my $len = $total - $OVERHEAD - 3 + $delta;    # key "cNN" is 3 bytes
            my $k = sprintf('c%02d', $i++);
            my $v = pattern($len, $i);
            store_is($s, $k, $v, "item total " . ($total + $delta) . " bytes stored");
            get_ok($s, $k, $v, "... read back ($len-byte value)");
        }
    }
    # Overwrites between chunked and unchunked sizes.
    my $small = pattern(100, 7);
    my $large = pattern(700000, 8);
    store_is($s, 'flip', $large, 'large');
    store_is($s, 'flip', $small, 'overwritten small');
    get_ok($s, 'flip', $small, 'small read back');
    store_is($s, 'flip', $large, 'overwritten large again');
    get_ok($s, 'flip', $large, 'large read back');
}

# ---- append / prepend across chunk boundaries
{
    my $srv = MCTest::new_server();
    my $s = $srv->sock;
    my $a = pattern(520000, 11);
    my $b = pattern(10000, 12);
    my $c = pattern(300000, 13);
    store_is($s, 'ap', $a, 'base value');
    MCTest::send_cmd($s, "append ap 0 0 " . length($b) . "\r\n$b\r\n");
    is(MCTest::read_line($s, 10), "STORED\r\n", 'append crossing 512 KB');
    MCTest::send_cmd($s, "prepend ap 0 0 " . length($c) . "\r\n$c\r\n");
    is(MCTest::read_line($s, 10), "STORED\r\n", 'prepend 300 KB');
    get_ok($s, 'ap', $c . $a . $b, 'prepend + base + append intact');
}

# ---- multiget of many 100 KB values
{
    my $srv = MCTest::new_server('-m 128');
    my $s = $srv->sock;
    my @keys = map { "m$_" } 1 .. 30;
    my %val = map { $_ => pattern(100 * 1024, length($_) * 31 + ord(substr($_, -1))) } @keys;
    my $bad = 0;
    for my $k (@keys) {
        MCTest::send_cmd($s, "set $k 0 0 102400\r\n$val{$k}\r\n");
        my $r = MCTest::read_line($s, 10) // '';
        $bad++ unless $r eq "STORED\r\n";
    }
    is($bad, 0, '30 x 100 KB stored');
    MCTest::send_cmd($s, 'get ' . join(' ', @keys, 'missing', @keys[0 .. 4]) . "\r\n");
    my $got = MCTest::read_values($s);
    is(scalar(@{ $got // [] }), 35, '35 values in one reply (a miss skipped, duplicates repeated)');
    my @wrong = grep { $_->[2] ne $val{ $_->[0] } } @{ $got // [] };
    is(scalar(@wrong), 0, 'every value intact and in order');
    is_deeply([map { $_->[0] } @{ $got // [] }], [@keys, @keys[0 .. 4]], 'keys in request order');
    # Several clients at once.
    my @c = map { $srv->new_sock } 1 .. 4;
    MCTest::send_cmd($_, 'get ' . join(' ', @keys[0 .. 9]) . "\r\n") for @c;
    my $ok = 0;
    for my $c (@c) {
        my $g = MCTest::read_values($c);
        $ok++ if $g && @$g == 10 && !grep { $_->[2] ne $val{ $_->[0] } } @$g;
    }
    is($ok, 4, 'four clients reading 1 MB each concurrently');
}

# ---- values delivered in small pieces
{
    my $srv = MCTest::new_server();
    my $s = $srv->sock;
    my $v = pattern(300000, 21);
    my $raw = "set slow 0 0 300000\r\n$v\r\n";
    my @sizes = (1, 7, 100, 1000, 4096, 16384, 50000);
    my ($off, $n) = (0, 0);
    while ($off < length $raw) {
        my $sz = $sizes[$n++ % @sizes];
        MCTest::send_cmd($s, substr($raw, $off, $sz));
        $off += $sz;
        sleep 0.005 if $n % 5 == 0;
    }
    is(MCTest::read_line($s, 10), "STORED\r\n", 'value sent in irregular small pieces');
    get_ok($s, 'slow', $v, 'read back intact');
    # Command line split right before/after its CRLF.
    MCTest::send_cmd($s, "set split 0 0 3\r");
    sleep 0.05;
    MCTest::send_cmd($s, "\nab");
    sleep 0.05;
    MCTest::send_cmd($s, "c\r");
    sleep 0.05;
    is(MCTest::read_all($s, 0.2), '', 'no reply before the final LF');
    MCTest::send_cmd($s, "\n");
    is(MCTest::read_line($s), "STORED\r\n", 'stored once complete');
    get_ok($s, 'split', 'abc', 'split value intact');
}

done_testing();
