#!/usr/bin/perl
# Bounded per-connection memory: a client that asks for ~50 MB and never
# reads the reply is closed once its reply queue passes conn_output_limit
# (and counted), while the server keeps serving everybody else; a request
# line longer than the read buffer may grow to is refused, not buffered.
# memcached 1.6.18 keeps both clients forever, so the file skips there.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use MCTest;

plan skip_all => 'memcached 1.6.18 has no output limit' if MCTest::is_reference();
# The limit is an -o option if the server has one, else built in (16 MB today).
my (undef, $help) = MCTest::run_bin(['-h']);
my $limit = $help =~ /conn_output_limit/ ? ' -o conn_output_limit=4' : '';

my $VALUE = 900 * 1024;
my $NKEYS = 60;    # 60 x 900 KB: a 53 MB reply
my $srv = MCTest::new_server("-m 64$limit");
my $admin = $srv->new_sock;

# Read and drop until the server closes; (closed, bytes read). Over TLS, bytes
# OpenSSL already holds are read first: select() would not report them.
sub drain {
    my ($sock, $timeout) = @_;
    my $deadline = time + $timeout;
    my $n = 0;
    while (1) {
        my $pending = MCTest::is_ssl_sock($sock) ? $sock->pending : 0;
        my ($st, $data) = $pending ? MCTest::try_read($sock, $pending)
            : MCTest::read_some($sock, 1 << 20, $deadline);
        return (1, $n) if $st eq 'eof' || $st eq 'error';
        return (0, $n) if $st eq 'timeout';
        $n += length $data;
    }
}

# conns_output_overflow is printed once it is not 0 (so that an untouched
# server's stats list exactly memcached's names).
sub overflow_count {
    return MCTest::mem_stats($admin)->{conns_output_overflow} // 0;
}

for my $i (0 .. 3) {
    is(MCTest::mem_set($admin, "big$i", chr(65 + $i) x $VALUE), "STORED\r\n", "900 KB value big$i");
}
my $before = overflow_count();
my $base = MCTest::mem_stats($admin)->{curr_connections};

# ---- a client that never reads a 53 MB multi-get
my $lazy = $srv->new_sock;
ok(MCTest::send_cmd($lazy, 'get ' . join(' ', map { 'big' . ($_ % 4) } 1 .. $NKEYS) . "\r\n"),
    'a 53 MB multi-get sent, never read');

# Everybody else is served at once while it sits there.
my $other = $srv->new_sock;
my $t0 = time;
MCTest::mem_get_is($other, 'big1', 'B' x $VALUE, 'another client is served meanwhile');
cmp_ok(time - $t0, '<', 2, 'and promptly');

my $count = MCTest::wait_for_stat($admin, '', 'curr_connections', sub { $_[0] < $base + 2 }, 10);
is($count, $base + 1, 'the non-reader is closed by the server');
my ($closed, $got) = drain($lazy, 10);
ok($closed, 'it sees the connection closed') or diag("drain: $got bytes, no EOF");
cmp_ok($got, '<', $NKEYS * $VALUE, "before the whole reply arrived ($got bytes)");
is(overflow_count() - $before, 1, 'counted once in stats conns_output_overflow');
MCTest::mem_get_is($other, 'big2', 'C' x $VALUE, 'the server still serves big values');

# ---- a client that reads slowly but steadily is not cut
my $slow = $srv->new_sock;
MCTest::send_cmd($slow, 'get ' . join(' ', map { 'big' . ($_ % 4) } 1 .. 8) . "\r\n");
my $read = 0;
my $deadline = time + 20;
while ($read < 8 * ($VALUE + 20) && time < $deadline) {
    my ($st, $data) = MCTest::read_some($slow, 262144, $deadline);
    last if $st ne 'data';
    $read += length $data;
    sleep 0.05 if int(($read - length $data) / 262144) != int($read / 262144);
}
cmp_ok($read, '>', 8 * $VALUE, 'a slow reader of a 7 MB reply gets all of it');

# ---- a request line the read buffer may not hold
my $long = $srv->new_plain_sock;
MCTest::send_cmd($long, 'get ' . ('k ' x (1536 * 1024)));
ok(MCTest::is_closed($long, 5), 'a 3 MB request line without a newline is refused (closed)');
MCTest::mem_get_is($admin, 'big0', 'A' x $VALUE, 'and the server still serves');

done_testing();
