#!/usr/bin/perl
# Retrieval commands of the classic text protocol: get/gets/gat/gats and
# touch, with multiple, missing, duplicate, odd and very many keys.

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
    is(MCTest::mem_set($s, $k, $v, $f // 0), "STORED\r\n", "set $k");
}

my $BADFMT = "CLIENT_ERROR bad command line format\r\n";

set_ok('a', 'A', 1);
set_ok('b', 'BB', 2);
set_ok('c', '', 3);

# ---- get
reply_is("get a\r\n", "VALUE a 1 1\r\nA\r\nEND\r\n", 'single key');
reply_is("get nope\r\n", "END\r\n", 'single miss');
reply_is("get a b c\r\n", "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nVALUE c 3 0\r\n\r\nEND\r\n", 'three keys in order');
reply_is("get c x b y a\r\n", "VALUE c 3 0\r\n\r\nVALUE b 2 2\r\nBB\r\nVALUE a 1 1\r\nA\r\nEND\r\n",
    'misses are skipped, request order kept');
reply_is("get x y z\r\n", "END\r\n", 'all misses');
reply_is("get a a b a\r\n", "VALUE a 1 1\r\nA\r\nVALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nVALUE a 1 1\r\nA\r\nEND\r\n",
    'duplicate keys are answered each time');
reply_is("get  a   b \r\n", "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n", 'extra spaces');
reply_is("get a\n", "VALUE a 1 1\r\nA\r\nEND\r\n", 'LF-only line');
reply_is("get\r\n", "ERROR\r\n", 'get without key');
reply_is("get \r\n", "ERROR\r\n", 'get with only a space');
reply_is("gets\r\n", "ERROR\r\n", 'gets without key');
reply_is("GET a\r\n", "ERROR\r\n", 'upper case GET');
reply_is("get a\r\r\n", "END\r\n", 'CR before CRLF belongs to the key');

# ---- gets
my ($ca) = MCTest::mem_gets($s, 'a');
my ($cb) = MCTest::mem_gets($s, 'b');
ok(defined $ca && defined $cb && $ca =~ /^\d+$/ && $cb =~ /^\d+$/, 'gets returns numeric cas');
isnt($ca, $cb, 'different items have different cas');
reply_is("gets a nope b\r\n", "VALUE a 1 1 $ca\r\nA\r\nVALUE b 2 2 $cb\r\nBB\r\nEND\r\n", 'gets multiple');
reply_is("gets a a\r\n", "VALUE a 1 1 $ca\r\nA\r\nVALUE a 1 1 $ca\r\nA\r\nEND\r\n", 'gets duplicate');
reply_is("get a\r\n", "VALUE a 1 1\r\nA\r\nEND\r\n", 'get does not change cas or print it');
my ($ca2) = MCTest::mem_gets($s, 'a');
is($ca2, $ca, 'cas stable across reads');

# ---- key length
my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
set_ok($k250, 'long');
reply_is("get $k250\r\n", "VALUE $k250 0 4\r\nlong\r\nEND\r\n", '250-byte key');
reply_is("get $k251\r\n", $BADFMT, '251-byte key: CLIENT_ERROR, no END');
reply_is("get a $k251 b\r\n", $BADFMT, 'too long key in the middle: no values at all');
reply_is("gets a $k251\r\n", $BADFMT, 'gets with too long key');
reply_is("gat 0 a $k251\r\n", $BADFMT, 'gat with too long key');
reply_is("touch $k251 0\r\n", $BADFMT, 'touch with too long key');

# ---- odd bytes in keys
set_ok("t\tab", 'tab');
reply_is("get t\tab\r\n", "VALUE t\tab 0 3\r\ntab\r\nEND\r\n", 'key with a tab');
reply_is("get t\r\n", "END\r\n", 'tab is not a separator');
set_ok("\x01\x7f\xff", 'ctl');
reply_is("get \x01\x7f\xff\r\n", "VALUE \x01\x7f\xff 0 3\r\nctl\r\nEND\r\n", 'key with control and high bytes');
set_ok("cr\r", 'cr');
reply_is("get cr\r\r\n", "VALUE cr\r 0 2\r\ncr\r\nEND\r\n", 'key ending in CR');
reply_is("get cr\r\n", "END\r\n", 'key without the CR is different');
reply_is("get a\0b\r\n", "VALUE a 1 1\r\nA\r\nEND\r\n", 'NUL ends the line');

# ---- many keys: a line far beyond 2048 bytes
{
    my @keys = map { sprintf('many_key_%04d', $_) } 1 .. 400;
    my $stored = '';
    for my $i (0 .. $#keys) {
        next if $i % 3;
        $stored .= "set $keys[$i] $i 0 " . length($i) . "\r\n$i\r\n";
    }
    my $n = int((@keys + 2) / 3);
    is(MCTest::sync_reply($s, $stored), "STORED\r\n" x $n, "pipelined $n sets");
    my $line = 'get ' . join(' ', @keys) . "\r\n";
    cmp_ok(length $line, '>', 5000, 'get line is long');
    my $want = '';
    for my $i (0 .. $#keys) {
        $want .= "VALUE $keys[$i] $i " . length($i) . "\r\n$i\r\n" unless $i % 3;
    }
    reply_is($line, "${want}END\r\n", '400-key get with every third key present');
    (my $gline = $line) =~ s/^get/gets/;
    my $got = MCTest::sync_reply($s, $gline);
    my @vals = ($got // '') =~ /^VALUE (\S+) \d+ \d+ \d+\r\n/mg;
    is(scalar(@vals), $n, 'gets with 400 keys returns every present key with a cas');
    # The same line delivered in small pieces, with pauses, well past 2048
    # bytes before its newline arrives.
    my $c = $srv->new_sock;
    my $off = 0;
    while ($off < length $line) {
        MCTest::send_cmd($c, substr($line, $off, 700));
        $off += 700;
        select(undef, undef, undef, 0.02);
    }
    is(MCTest::read_reply_until_end($c), "${want}END\r\n", 'long get line sent in pieces');
    # A 20 KB get line (bigger than a typical read buffer).
    my @big = map { "bigline_key_number_$_" } 1 .. 1000;
    my $bl = 'get ' . join(' ', @big, $keys[0]) . "\r\n";
    reply_is($bl, "VALUE $keys[0] 0 1\r\n0\r\nEND\r\n", 'get with 1001 keys (20 KB line)');
}

# ---- token count boundaries (the tokenizer works in batches)
for my $nk (22, 23, 24, 25, 48, 49) {
    my @k = map { ($_ % 2) ? 'a' : 'b' } 1 .. $nk;
    my $want = join('', map { $_ eq 'a' ? "VALUE a 1 1\r\nA\r\n" : "VALUE b 2 2\r\nBB\r\n" } @k);
    reply_is('get ' . join(' ', @k) . "\r\n", "${want}END\r\n", "get with $nk keys");
}

# ---- touch
reply_is("touch a 100\r\n", "TOUCHED\r\n", 'touch hit');
reply_is("touch nope 100\r\n", "NOT_FOUND\r\n", 'touch miss');
reply_is("touch a 100 noreply\r\n", '', 'touch noreply');
reply_is("touch nope 100 noreply\r\n", '', 'touch miss noreply');
reply_is("touch a\r\n", "ERROR\r\n", 'touch without exptime');
reply_is("touch\r\n", "ERROR\r\n", 'bare touch');
reply_is("touch a abc\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'touch non-numeric exptime');
reply_is("touch a 1.5\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'touch fractional exptime');
reply_is("touch a 100 x\r\n", "TOUCHED\r\n", 'touch extra word ignored');
reply_is("touch a 100 x y\r\n", "ERROR\r\n", 'touch too many words');
reply_is("get a\r\n", "VALUE a 1 1\r\nA\r\nEND\r\n", 'touch kept the value');

# ---- gat / gats
reply_is("gat 100 a nope b a\r\n", "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nVALUE a 1 1\r\nA\r\nEND\r\n",
    'gat multiple with miss and duplicate');
my ($ca3) = MCTest::mem_gets($s, 'a');
reply_is("gats 100 a\r\n", "VALUE a 1 1 $ca3\r\nA\r\nEND\r\n", 'gats shows cas');
my ($ca4) = MCTest::mem_gets($s, 'a');
is($ca4, $ca3, 'gat does not change cas');
reply_is("gat 100 nope\r\n", "END\r\n", 'gat miss');
reply_is("gat 10\r\n", "END\r\n", 'gat with no keys: just END');
reply_is("gat a\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'gat a: "a" is the exptime');
reply_is("gat abc a\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'gat non-numeric exptime');
reply_is("gat\r\n", "ERROR\r\n", 'bare gat');
reply_is("gats\r\n", "ERROR\r\n", 'bare gats');
set_ok('g1', 'v');
reply_is("gat -1 g1\r\n", "VALUE g1 0 1\r\nv\r\nEND\r\n", 'gat with negative exptime returns the value');
reply_is("get g1\r\n", "END\r\n", '... and the item is then expired');
set_ok('g2', 'w');
reply_is("touch g2 -1\r\n", "TOUCHED\r\n", 'touch with negative exptime');
reply_is("get g2\r\n", "END\r\n", '... expires the item');

# ---- counters for what we just did
{
    my $c = $srv->new_sock;
    my $before = MCTest::mem_stats($c);
    MCTest::sync_reply($c, "get a nope a\r\ngets b\r\ntouch a 0\r\ntouch nope 0\r\ngat 0 b nope\r\n");
    my $after = MCTest::mem_stats($c);
    my %d = map { $_ => $after->{$_} - $before->{$_} }
        qw(cmd_get get_hits get_misses cmd_touch touch_hits touch_misses);
    is_deeply(\%d, { cmd_get => 4, get_hits => 3, get_misses => 1,
        cmd_touch => 4, touch_hits => 2, touch_misses => 2 },
        'stats: get counts keys; gat counts only as touch');
}

done_testing();
