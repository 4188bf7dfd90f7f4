#!/usr/bin/perl
# Miscellaneous text commands: version, verbosity, quit, unknown commands and
# empty lines, cache_memlimit, stats reset, and shutdown with and without -A.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;

my $srv = MCTest::new_server();
my $s = $srv->sock;

sub reply_is {
    my ($sock, $raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($sock, $raw), $want, $name);
}

sub setting { return MCTest::mem_stats($s, 'settings')->{$_[0]} }

# ---- version
my $v = MCTest::cmd_line($s, "version\r\n");
like($v, qr/^VERSION \d+\.\d+\.\d+\S*\r\n\z/, 'version reply format');
my ($ver) = ($v // '') =~ /^VERSION (\S+)/;
is(MCTest::mem_stats($s)->{version}, $ver, 'same version as STAT version');
is($v, "VERSION 1.6.18\r\n", 'reference version') if MCTest::is_reference();
is(MCTest::cmd_line($s, "version extra args\r\n"), $v, 'arguments after version are ignored');
is(MCTest::cmd_line($s, "version\n"), $v, 'LF-only line');

# ---- unknown commands, empty lines
reply_is($s, "foo\r\n", "ERROR\r\n", 'unknown command');
reply_is($s, "VERSION\r\n", "ERROR\r\n", 'commands are case-sensitive');
reply_is($s, "\r\n", "ERROR\r\n", 'empty line');
reply_is($s, "\n", "ERROR\r\n", 'bare LF');
reply_is($s, " \r\n", "ERROR\r\n", 'only a space');
reply_is($s, "   \r\n\r\nfoo bar baz\r\n", "ERROR\r\nERROR\r\nERROR\r\n", 'several bad lines pipelined');
reply_is($s, "getx a\r\n", "ERROR\r\n", 'command prefix is not enough');
reply_is($s, "get_a a\r\n", "ERROR\r\n", 'command with suffix');
reply_is($s, "\0\r\n", "ERROR\r\n", 'NUL line');

# ---- verbosity
is(setting('verbosity'), 0, 'default verbosity 0');
reply_is($s, "verbosity 1\r\n", "OK\r\n", 'verbosity 1');
is(setting('verbosity'), 1, 'verbosity now 1');
reply_is($s, "verbosity 5\r\n", "OK\r\n", 'verbosity 5');
is(setting('verbosity'), 2, 'verbosity is capped at 2');
reply_is($s, "verbosity 0 noreply\r\n", '', 'verbosity noreply');
is(setting('verbosity'), 0, 'noreply form took effect');
reply_is($s, "verbosity 1 2\r\n", "OK\r\n", 'verbosity with an extra word');
is(setting('verbosity'), 1, 'the first number counts');
reply_is($s, "verbosity\r\n", "ERROR\r\n", 'verbosity without level');
reply_is($s, "verbosity 1 2 3\r\n", "ERROR\r\n", 'verbosity with too many words');
reply_is($s, "verbosity abc\r\n", "CLIENT_ERROR bad command line format\r\n", 'verbosity non-numeric');
reply_is($s, "verbosity -1\r\n", "CLIENT_ERROR bad command line format\r\n", 'verbosity negative');
reply_is($s, "verbosity noreply\r\n", '', '"verbosity noreply" is silent');
reply_is($s, "verbosity 0\r\n", "OK\r\n", 'back to 0');

# ---- cache_memlimit
reply_is($s, "cache_memlimit 100\r\n", "OK\r\n", 'cache_memlimit 100');
is(setting('maxbytes'), 100 * 1024 * 1024, 'maxbytes follows (megabytes)');
is(MCTest::mem_stats($s)->{limit_maxbytes}, 100 * 1024 * 1024, 'limit_maxbytes follows');
reply_is($s, "cache_memlimit 8\r\n", "OK\r\n", 'cache_memlimit 8 (minimum)');
reply_is($s, "cache_memlimit 7\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", 'below 8');
reply_is($s, "cache_memlimit 0\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", 'zero');
reply_is($s, "cache_memlimit 1000000001\r\n",
    "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n", 'bytes instead of megabytes');
reply_is($s, "cache_memlimit 1 noreply\r\n", '', 'noreply hides the error');
reply_is($s, "cache_memlimit 64 noreply\r\n", '', 'noreply form');
is(setting('maxbytes'), 64 * 1024 * 1024, 'noreply form took effect');
reply_is($s, "cache_memlimit 70 200\r\n", "OK\r\n", 'extra word ignored');
reply_is($s, "cache_memlimit\r\n", "ERROR\r\n", 'no argument');
reply_is($s, "cache_memlimit abc\r\n", "ERROR\r\n", 'non-numeric is plain ERROR');
reply_is($s, "cache_memlimit -1\r\n", "ERROR\r\n", 'negative is plain ERROR');
reply_is($s, "cache_memlimit 70 200 300\r\n", "ERROR\r\n", 'too many words');
is(setting('maxbytes'), 70 * 1024 * 1024, 'failed commands left maxbytes alone');

# ---- stats reset
{
    my $c = $srv->new_sock;
    reply_is($c, "set r 0 0 1\r\nx\r\nget r\r\nget nope\r\n", "STORED\r\nVALUE r 0 1\r\nx\r\nEND\r\nEND\r\n", 'some traffic');
    my $b = MCTest::mem_stats($c);
    ok($b->{cmd_get} >= 2 && $b->{get_hits} >= 1 && $b->{total_items} >= 1, 'counters moved');
    reply_is($c, "stats reset\r\n", "RESET\r\n", 'stats reset');
    my $a = MCTest::mem_stats($c);
    is_deeply([@$a{qw(cmd_get get_hits get_misses cmd_set total_items)}], [0, 0, 0, 0, 0],
        'traffic counters are zero after reset');
    is($a->{curr_items}, $b->{curr_items}, 'curr_items is not a counter and survives reset');
    reply_is($c, "stats reset extra\r\n", "RESET\r\n", 'stats reset ignores extra words');
    reply_is($c, "stats reset noreply\r\n", "RESET\r\n", 'stats reset has no noreply');
}

# ---- quit
{
    my $c = $srv->new_sock;
    MCTest::send_cmd($c, "quit\r\n");
    ok(MCTest::is_closed($c), 'quit closes the connection');
    is(MCTest::read_all($c, 0.1), '', 'quit sends nothing');
    my $d = $srv->new_sock;
    MCTest::send_cmd($d, "quit\r\nversion\r\n");
    is(MCTest::read_all($d, 0.5), '', 'commands pipelined after quit are not answered');
    my $e = $srv->new_sock;
    MCTest::send_cmd($e, "quit now please\r\n");
    ok(MCTest::is_closed($e), 'quit with arguments also closes');
    my $f = $srv->new_sock;
    reply_is($f, "QUIT\r\n", "ERROR\r\n", 'QUIT is unknown');
}

# ---- shutdown disabled (default)
reply_is($s, "shutdown\r\n", "ERROR: shutdown not enabled\r\n", 'shutdown without -A');
reply_is($s, "shutdown graceful\r\n", "ERROR: shutdown not enabled\r\n", 'graceful without -A');
reply_is($s, "shutdown foo\r\n", "ERROR: shutdown not enabled\r\n", 'bad mode without -A');
ok($srv->is_running, 'server still running');
is(setting('shutdown_command'), 'no', 'stats settings shutdown_command no');

# ---- shutdown enabled with -A
for my $mode ('', ' graceful') {
    my $a = MCTest::new_server('-A');
    my $c = $a->sock;
    my $other = $a->new_sock;
    is(MCTest::mem_stats($c, 'settings')->{shutdown_command}, 'yes', '-A: shutdown_command yes');
    reply_is($c, "shutdown foo\r\n", "CLIENT_ERROR invalid shutdown mode\r\n", '-A: unknown mode');
    reply_is($c, "shutdown graceful x\r\n", "CLIENT_ERROR invalid shutdown mode\r\n", '-A: too many words');
    reply_is($c, "shutdown noreply\r\n", "CLIENT_ERROR invalid shutdown mode\r\n", '-A: noreply is not a mode');
    ok($a->is_running, '-A: still running after bad modes');
    MCTest::send_cmd($c, "shutdown$mode\r\n");
    ok(MCTest::is_closed($c, 5), "-A: shutdown$mode closes the connection");
    is(MCTest::read_all($c, 0.1), '', '... without a reply');
    ok(MCTest::is_closed($other, 5), '... and the other connection');
    my $st = $a->wait_exit(5);
    ok(defined $st, "-A: shutdown$mode makes the server exit");
    is($st, 0, '... with status 0') if defined $st;
}

done_testing();
