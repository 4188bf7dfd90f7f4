#!/usr/bin/perl
# delete (including the legacy hold-time argument) and flush_all (now,
# delayed, noreply, disabled with -F).

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
    my ($sock, $raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($sock, $raw), $want, $name);
}

sub set_ok {
    my ($sock, $k, $v) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::mem_set($sock, $k, $v), "STORED\r\n", "set $k");
}

my $USAGE = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";

# ---- delete
set_ok($s, 'a', '1');
reply_is($s, "delete a\r\n", "DELETED\r\n", 'delete hit');
MCTest::mem_get_is($s, 'a', undef, 'deleted key is gone');
reply_is($s, "delete a\r\n", "NOT_FOUND\r\n", 'delete miss');
set_ok($s, 'a', '1');
reply_is($s, "delete a 0\r\n", "DELETED\r\n", 'legacy "delete k 0" accepted');
reply_is($s, "delete a 0\r\n", "NOT_FOUND\r\n", 'legacy form on a miss');
set_ok($s, 'a', '1');
reply_is($s, "delete a 5\r\n", $USAGE, 'hold time other than 0 rejected');
MCTest::mem_get_is($s, 'a', '1', 'rejected delete kept the item');
reply_is($s, "delete a 00\r\n", $USAGE, '"00" is not "0"');
reply_is($s, "delete a -0\r\n", $USAGE, '"-0" is not "0"');
reply_is($s, "delete a x\r\n", $USAGE, 'junk argument');
reply_is($s, "delete a 0 0\r\n", $USAGE, 'two zeros');
reply_is($s, "delete a noreply x\r\n", $USAGE, 'noreply not last');
reply_is($s, "delete a 5 noreply\r\n", '', 'noreply hides the usage error too');
reply_is($s, "delete\r\n", "ERROR\r\n", 'bare delete');
reply_is($s, "delete a 0 noreply x\r\n", "ERROR\r\n", 'too many words');
reply_is($s, "DELETE a\r\n", "ERROR\r\n", 'upper case');
reply_is($s, "delete " . ('k' x 251) . "\r\n", "CLIENT_ERROR bad command line format\r\n", 'key too long');
reply_is($s, "delete a noreply\r\n", '', 'delete noreply');
MCTest::mem_get_is($s, 'a', undef, 'noreply delete took effect');
reply_is($s, "delete a noreply\r\n", '', 'delete miss noreply');
set_ok($s, 'a', '1');
reply_is($s, "delete a 0 noreply\r\n", '', 'legacy form with noreply');
MCTest::mem_get_is($s, 'a', undef, '... took effect');
set_ok($s, 'a', '1');
reply_is($s, "delete a\r\nadd a 0 0 1\r\n2\r\nget a\r\n", "DELETED\r\nSTORED\r\nVALUE a 0 1\r\n2\r\nEND\r\n",
    'add works right after delete');

{
    my $c = $srv->new_sock;
    my $b = MCTest::mem_stats($c);
    MCTest::sync_reply($c, "set d1 0 0 1\r\nx\r\ndelete d1\r\ndelete d1\r\ndelete d2\r\n");
    my $a = MCTest::mem_stats($c);
    is($a->{delete_hits} - $b->{delete_hits}, 1, 'delete_hits');
    is($a->{delete_misses} - $b->{delete_misses}, 2, 'delete_misses');
}

# ---- flush_all now
set_ok($s, "f$_", $_) for 1 .. 3;
reply_is($s, "flush_all\r\n", "OK\r\n", 'flush_all');
reply_is($s, "get f1 f2 f3\r\n", "END\r\n", 'all items gone');
reply_is($s, "add f1 0 0 1\r\nn\r\nget f1\r\n", "STORED\r\nVALUE f1 0 1\r\nn\r\nEND\r\n",
    'flushed key counts as missing for add; new item visible at once');
reply_is($s, "flush_all 0\r\n", "OK\r\n", 'flush_all 0');
MCTest::mem_get_is($s, 'f1', undef, 'flush_all 0 flushes now');
set_ok($s, 'f2', 'x');
reply_is($s, "flush_all noreply\r\n", '', 'flush_all noreply');
MCTest::mem_get_is($s, 'f2', undef, 'noreply flush took effect');
set_ok($s, 'f2', 'x');
reply_is($s, "flush_all 0 noreply\r\n", '', 'flush_all 0 noreply');
MCTest::mem_get_is($s, 'f2', undef, '... took effect');
set_ok($s, 'f2', 'x');
reply_is($s, "flush_all -1\r\n", "OK\r\n", 'negative delay accepted');
MCTest::mem_get_is($s, 'f2', undef, 'negative delay flushes now');
reply_is($s, "flush_all abc\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'non-numeric delay');
reply_is($s, "flush_all noreply 2\r\n", "CLIENT_ERROR invalid exptime argument\r\n", 'noreply must be last');
reply_is($s, "flush_all 1 2 3\r\n", "ERROR\r\n", 'too many words');
reply_is($s, "FLUSH_ALL\r\n", "ERROR\r\n", 'upper case');

{
    my $c = $srv->new_sock;
    set_ok($c, 'gf', 'x');
    my $b = MCTest::mem_stats($c);
    MCTest::sync_reply($c, "flush_all\r\nget gf\r\n");
    my $a = MCTest::mem_stats($c);
    is($a->{cmd_flush} - $b->{cmd_flush}, 1, 'cmd_flush counts');
    is($a->{get_flushed} - $b->{get_flushed}, 1, 'get of a flushed item counts as get_flushed');
    is($a->{get_misses} - $b->{get_misses}, 1, '... and as a miss');
}

# ---- delayed flush: items stay until the delay passes, then vanish
set_ok($s, 'late', 'v');
my $t0 = time;
# memcached flushes items older than now + delay - 1 once its one-second
# clock reaches that point: 2 to 3 s for a delay of 4, less when a clock tick
# is delivered late on a loaded machine, never under a second.
reply_is($s, "flush_all 4\r\n", "OK\r\n", 'flush_all 4');
MCTest::mem_get_is($s, 'late', 'v', 'item still there right after a delayed flush');
my $gone_at;
while (time - $t0 < 7) {
    my $r = MCTest::sync_reply($s, "get late\r\n");
    if (defined $r && $r eq "END\r\n") { $gone_at = time - $t0; last }
    sleep 0.1;
}
ok(defined $gone_at, 'item gone after the delay');
ok(defined $gone_at && $gone_at > 1.0, 'but not at once') or diag("gone after " . ($gone_at // 'never'));
sleep 1.1;
set_ok($s, 'after', 'w');
MCTest::mem_get_is($s, 'after', 'w', 'items stored after the flush point survive');

# ---- -F: flush_all disabled
{
    my $f = MCTest::new_server('-F');
    my $c = $f->sock;
    set_ok($c, 'k', 'v');
    reply_is($c, "flush_all\r\n", "CLIENT_ERROR flush_all not allowed\r\n", '-F: flush_all refused');
    reply_is($c, "flush_all 0\r\n", "CLIENT_ERROR flush_all not allowed\r\n", '-F: flush_all 0 refused');
    reply_is($c, "flush_all abc\r\n", "CLIENT_ERROR flush_all not allowed\r\n", '-F: refusal comes before parsing');
    reply_is($c, "flush_all noreply\r\n", '', '-F: noreply hides the refusal');
    reply_is($c, "flush_all 1 2 3\r\n", "ERROR\r\n", '-F: too many words still ERROR');
    MCTest::mem_get_is($c, 'k', 'v', '-F: nothing was flushed');
    is(MCTest::mem_stats($c, 'settings')->{flush_enabled}, 'no', '-F: stats settings flush_enabled no');
    is(MCTest::mem_stats($c)->{cmd_flush}, 4, '-F: refused flush_all commands still count in cmd_flush');
}

done_testing();
