#!/usr/bin/perl
# CAS uniques: how gets numbers items, which commands change the unique,
# the cas command's three outcomes and their stats, and -C (cas disabled).

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;

sub reply_is {
    my ($sock, $raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($sock, $raw), $want, $name);
}

sub cas_of { my ($c) = MCTest::mem_gets(@_); return $c }

my $srv = MCTest::new_server();
my $s = $srv->sock;

# ---- numbering: a global counter, one step per stored item
reply_is($s, "set a 0 0 1\r\nx\r\n", "STORED\r\n", 'first set');
is(cas_of($s, 'a'), 1, 'first item on a fresh server has unique 1');
my @c;
for my $k (qw(b c d)) {
    reply_is($s, "set $k 0 0 1\r\nx\r\n", "STORED\r\n", "set $k");
    push @c, cas_of($s, $k);
}
is_deeply(\@c, [2, 3, 4], 'each store takes the next unique');
reply_is($s, "set a 0 0 1\r\ny\r\n", "STORED\r\n", 'overwrite a');
is(cas_of($s, 'a'), 5, 'overwrite gets a new unique');
reply_is($s, "add a 0 0 1\r\nz\r\n", "NOT_STORED\r\n", 'failed add');
reply_is($s, "set e 0 0 1\r\nx\r\n", "STORED\r\n", 'set e');
is(cas_of($s, 'e'), 6, 'a failed add does not use up a unique');
reply_is($s, "gets a b\r\n", "VALUE a 0 1 5\r\ny\r\nVALUE b 0 1 2\r\nx\r\nEND\r\n", 'gets reply bytes');

# ---- which commands change the unique
my $u = cas_of($s, 'a');
reply_is($s, "touch a 100\r\n", "TOUCHED\r\n", 'touch');
is(cas_of($s, 'a'), $u, 'touch keeps the unique');
reply_is($s, "gat 100 a\r\n", "VALUE a 0 1\r\ny\r\nEND\r\n", 'gat');
is(cas_of($s, 'a'), $u, 'gat keeps the unique');
reply_is($s, "append a 0 0 1\r\n+\r\n", "STORED\r\n", 'append');
my $u2 = cas_of($s, 'a');
cmp_ok($u2, '>', $u, 'append gives a new unique');
reply_is($s, "prepend a 0 0 1\r\n-\r\n", "STORED\r\n", 'prepend');
my $u3 = cas_of($s, 'a');
cmp_ok($u3, '>', $u2, 'prepend gives a new unique');
reply_is($s, "set n 0 0 1\r\n5\r\n", "STORED\r\n", 'set number');
my $u4 = cas_of($s, 'n');
reply_is($s, "incr n 1\r\n", "6\r\n", 'incr');
my $u5 = cas_of($s, 'n');
cmp_ok($u5, '>', $u4, 'incr gives a new unique');

# ---- cas outcomes
reply_is($s, "cas a 0 0 1 " . ($u3 + 100) . "\r\nw\r\n", "EXISTS\r\n", 'wrong unique: EXISTS');
reply_is($s, "cas a 0 0 1 0\r\nw\r\n", "EXISTS\r\n", 'unique 0: EXISTS');
reply_is($s, "get a\r\n", "VALUE a 0 3\r\n-y+\r\nEND\r\n", 'value unchanged after EXISTS');
reply_is($s, "cas a 9 0 1 $u3\r\nw\r\n", "STORED\r\n", 'right unique: STORED');
reply_is($s, "get a\r\n", "VALUE a 9 1\r\nw\r\nEND\r\n", 'cas replaced value and flags');
my $u6 = cas_of($s, 'a');
cmp_ok($u6, '>', $u3, 'cas store gives a new unique');
reply_is($s, "cas a 0 0 1 $u3\r\nv\r\n", "EXISTS\r\n", 'the same unique again: EXISTS');
reply_is($s, "cas zz 0 0 1 1\r\nv\r\n", "NOT_FOUND\r\n", 'missing key: NOT_FOUND');
reply_is($s, "delete a\r\n", "DELETED\r\n", 'delete');
reply_is($s, "cas a 0 0 1 $u6\r\nv\r\n", "NOT_FOUND\r\n", 'after delete: NOT_FOUND');
reply_is($s, "get a zz\r\n", "END\r\n", 'cas never creates');
reply_is($s, "cas b 0 0 1 18446744073709551615\r\nv\r\n", "EXISTS\r\n", 'max 64-bit unique accepted');
reply_is($s, "cas b 0 0 1 18446744073709551616\r\nv\r\n",
    "CLIENT_ERROR bad command line format\r\nERROR\r\n", 'unique beyond 64 bits');

{
    my $c = $srv->new_sock;
    my $b = MCTest::mem_stats($c);
    my $ub = cas_of($c, 'b');
    MCTest::sync_reply($c, "cas b 0 0 1 $ub\r\nq\r\ncas b 0 0 1 $ub\r\nq\r\ncas b 0 0 1 $ub\r\nq\r\ncas nope 0 0 1 1\r\nq\r\n");
    my $a = MCTest::mem_stats($c);
    my %d = map { $_ => $a->{$_} - $b->{$_} } qw(cas_hits cas_badval cas_misses);
    is_deeply(\%d, { cas_hits => 1, cas_badval => 2, cas_misses => 1 }, 'cas stats');
    my $sl = MCTest::mem_stats($c, 'slabs');
    ok(exists $sl->{'1:cas_hits'} && exists $sl->{'1:cas_badval'}, 'per-slab cas counters exist');
}

# ---- -C: cas disabled
{
    my $nc = MCTest::new_server('-C');
    my $c = $nc->sock;
    reply_is($c, "set a 0 0 1\r\nx\r\n", "STORED\r\n", '-C set');
    reply_is($c, "gets a\r\n", "VALUE a 0 1 0\r\nx\r\nEND\r\n", '-C: gets shows unique 0');
    reply_is($c, "set a 0 0 1\r\ny\r\n", "STORED\r\n", '-C overwrite');
    reply_is($c, "gets a\r\n", "VALUE a 0 1 0\r\ny\r\nEND\r\n", '-C: still 0');
    reply_is($c, "gats 0 a\r\n", "VALUE a 0 1 0\r\ny\r\nEND\r\n", '-C: gats shows 0');
    reply_is($c, "cas a 0 0 1 0\r\nz\r\n", "EXISTS\r\n", '-C: cas with 0 is EXISTS');
    reply_is($c, "cas a 0 0 1 1\r\nz\r\n", "EXISTS\r\n", '-C: any unique is EXISTS');
    reply_is($c, "cas b 0 0 1 0\r\nz\r\n", "NOT_FOUND\r\n", '-C: missing key still NOT_FOUND');
    reply_is($c, "get a\r\n", "VALUE a 0 1\r\ny\r\nEND\r\n", '-C: value unchanged');
    is(MCTest::mem_stats($c, 'settings')->{cas_enabled}, 'no', '-C: stats settings cas_enabled no');
    is(MCTest::mem_stats($s, 'settings')->{cas_enabled}, 'yes', 'default: cas_enabled yes');
}

done_testing();
