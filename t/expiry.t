#!/usr/bin/perl
# Expiration times: relative, negative, absolute unix time (anything above
# 30 days), and exptime updates through touch and gat/gats. One short wait
# covers every time-dependent check.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;
use Time::HiRes qw(time sleep);

my $srv = MCTest::new_server();
my $s = $srv->sock;

sub reply_is {
    my ($raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($s, $raw), $want, $name);
}

sub present { my $r = MCTest::sync_reply($s, "get $_[0]\r\n"); return defined $r && $r =~ /^VALUE /; }

my $now = time();
my $t0 = time;
my $int_now = int($now);
my %set = (
    rel2    => 2,                 # relative, 2 s
    abs3    => $int_now + 3,      # absolute, 3 s ahead
    neg     => -1,                # negative: expired at once
    absold  => $int_now - 100,    # absolute, in the past
    d30     => 2592000,           # exactly 30 days: still relative
    d30p1   => 2592001,           # one more: absolute (1970), long past
    tch0    => 2,                 # touched to 0 (never) below
    tch2    => 0,                 # touched to 2 below
    gat0    => 2,                 # gat to 0 below
    gats2   => 0,                 # gats to 2 below
    never   => 0,
);
for my $k (sort keys %set) {
    reply_is("set $k 0 $set{$k} 1\r\nx\r\n", "STORED\r\n", "set $k exptime $set{$k}");
}
reply_is("touch tch0 0\r\n", "TOUCHED\r\n", 'touch to never expire');
reply_is("touch tch2 2\r\n", "TOUCHED\r\n", 'touch to 2 s');
reply_is("gat 0 gat0\r\n", "VALUE gat0 0 1\r\nx\r\nEND\r\n", 'gat to never expire');
my ($cas) = MCTest::mem_gets($s, 'gats2');
reply_is("gats 2 gats2\r\n", "VALUE gats2 0 1 $cas\r\nx\r\nEND\r\n", 'gats to 2 s');

my $before = MCTest::mem_stats($s);
# Immediately (well within the first second of a 2 s lifetime).
ok(present($_), "$_ present right after set") for qw(rel2 abs3 d30 tch0 tch2 gat0 gats2 never);
ok(!present($_), "$_ expired at once") for qw(neg absold d30p1);
cmp_ok(time - $t0, '<', 0.9, 'the immediate checks ran in time') or diag('slow machine: results above may be moot');
my $after = MCTest::mem_stats($s);
is($after->{get_misses} - $before->{get_misses}, 3, 'reads of already-expired items are get_misses');

# Wait until the 2 s items are gone (bounded), then check the rest.
my $gone;
while (time - $t0 < 4.5) {
    if (!present('rel2')) { $gone = time - $t0; last }
    sleep 0.2;
}
ok(defined $gone, 'relative exptime 2 expired within 4.5 s') or diag('still present');
cmp_ok($gone // 0, '>', 1, 'but not before 1 s');
sleep 0.1 while time - $t0 < 4.2;
ok(!present($_), "$_ expired after its time") for qw(rel2 abs3 tch2 gats2);
ok(present($_), "$_ still present") for qw(d30 tch0 gat0 never);

# Touch and gat on expired items are misses.
reply_is("touch rel2 100\r\n", "NOT_FOUND\r\n", 'touch of an expired item');
reply_is("gat 100 abs3\r\n", "END\r\n", 'gat of an expired item');
reply_is("add rel2 0 0 1\r\ny\r\n", "STORED\r\n", 'add over an expired item');
reply_is("replace abs3 0 0 1\r\ny\r\n", "NOT_STORED\r\n", 'replace of an expired item');
reply_is("incr tch2 1\r\n", "NOT_FOUND\r\n", 'incr of an expired item');
reply_is("append gats2 0 0 1\r\ny\r\n", "NOT_STORED\r\n", 'append to an expired item');
reply_is("cas neg 0 0 1 1\r\ny\r\n", "NOT_FOUND\r\n", 'cas on an expired item');
reply_is("delete absold\r\n", "NOT_FOUND\r\n", 'delete of an expired item');

done_testing();
