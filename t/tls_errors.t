#!/usr/bin/perl
# Hostile and broken clients on a TLS port: plaintext, garbage, a client
# that stalls mid-handshake, a corrupted record after the handshake. Each is
# closed and counted, and the server keeps serving everybody else. Also the
# pending-bytes case: a command pipelined right behind a large value is
# answered at once (memcached 1.6.18 waits for more socket input).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;
require IO::Socket::SSL;

my $ref = MCTest::is_reference();
my $d = MCTest::cert_dir();
my $srv = MCTest::new_server("-Z -o ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem"
    . ($ref ? '' : ',ssl_handshake_timeout=1') . ' -vv', { tls => 1, no_tls_args => 1 });
my $admin = $srv->new_tls_sock;
is(MCTest::mem_set($admin, 'k', 'v'), "STORED\r\n", 'a TLS client works');

sub hs_errors {
    return MCTest::mem_stats($admin)->{ssl_handshake_errors};
}

# Send $bytes on a raw TCP connection after $delay s; true if the server closes it.
sub raw_closed {
    my ($bytes, $delay) = @_;
    my $s = $srv->new_plain_sock($srv->port);
    sleep $delay if $delay;
    MCTest::send_cmd($s, $bytes) if length $bytes;
    my $reply = MCTest::read_all($s, 0.3);
    return 0 if length $reply && $reply =~ /VERSION|ERROR|STORED/;
    return MCTest::is_closed($s, 3);
}

my @bad = (
    ['plaintext command', "version\r\n", 0],
    ['plaintext command after a pause', "version\r\n", 0.3],
    ['HTTP request', "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.1],
    ['binary garbage', join('', map { chr(($_ * 37) & 0xff) } 0 .. 200), 0.1],
    ['a truncated ClientHello in a whole record', "\x16\x03\x01\x00\x08\x01\x00\x00\x04\xff\xff\xff\xff", 0.1],
    ['connect and close without a byte', '', 0],
);
for my $b (@bad) {
    my ($name, $bytes, $delay) = @$b;
    my $before = hs_errors();
    if ($bytes eq '') {
        my $s = $srv->new_plain_sock($srv->port);
        close $s;
        pass("$name: client gone");
    } else {
        ok(raw_closed($bytes, $delay), "$name: closed without a reply");
    }
    my $after = MCTest::wait_for_stat($admin, '', 'ssl_handshake_errors',
        sub { $_[0] > $before }, $ref ? 0.3 : 2);
    SKIP: {
        skip 'memcached 1.6.18 misses handshake failures on worker threads (known bug)', 1 if $ref;
        is($after - $before, 1, "$name: counted once in ssl_handshake_errors");
    }
    MCTest::mem_get_is($admin, 'k', 'v', "$name: the server still serves");
}
SKIP: {
    skip 'reference logs differently', 1 if $ref;
    like($srv->log_text, qr/TLS handshake failed from 127\.0\.0\.1:\d+: .*plaintext/,
        '-vv logs the failed handshake with the peer address and reason');
}

# A client that stalls mid-handshake does not delay anybody else.
{
    my $before = hs_errors();
    my $timeouts = MCTest::mem_stats($admin)->{ssl_handshake_timeouts} // 0;
    my $opened = time;
    my @stalled = map { $srv->new_plain_sock($srv->port) } 1 .. 3;
    MCTest::send_cmd($stalled[0], "\x16\x03\x01");    # part of a record header
    MCTest::send_cmd($stalled[1], "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");  # part of a ClientHello
    my $t0 = time;
    my $s = $srv->new_tls_sock;
    MCTest::mem_get_is($s, 'k', 'v', 'a new client is served while three others stall');
    cmp_ok(time - $t0, '<', 2, 'without waiting for the stalled handshakes');
    SKIP: {
        skip 'memcached 1.6.18 has no ssl_handshake_timeout', 4 if $ref;
        my $closed = MCTest::is_closed($stalled[0], 4);
        cmp_ok(time - $opened, '>=', 1, 'not closed before ssl_handshake_timeout=1 passed');
        $closed += MCTest::is_closed($_, 4) for @stalled[1, 2];
        is($closed, 3, 'ssl_handshake_timeout closes the stalled clients');
        my $after = MCTest::wait_for_stat($admin, '', 'ssl_handshake_errors',
            sub { $_[0] >= $before + 3 }, 2);
        is($after - $before, 3, 'each stalled handshake counts as a failed one');
        is(MCTest::mem_stats($admin)->{ssl_handshake_timeouts} - $timeouts, 3,
           'and in ssl_handshake_timeouts');
    }
}

# A corrupted record after the handshake is a protocol error.
{
    my $s = $srv->new_tls_sock;
    is(MCTest::cmd_line($s, "version\r\n"), "VERSION 1.6.18\r\n", 'victim connection works');
    my $before = MCTest::mem_stats($admin)->{ssl_proto_errors};
    open(my $raw, '>&=', fileno($s)) or die "dup: $!";
    syswrite($raw, "\x17\x03\x03\x00\x20" . ("\xaa" x 32));
    ok(MCTest::is_closed($s, 3), 'a corrupted application-data record closes the connection');
    SKIP: {
        skip 'memcached 1.6.18 has no ssl_proto_errors', 1 if $ref;
        my $after = MCTest::wait_for_stat($admin, '', 'ssl_proto_errors', sub { $_[0] > $before }, 2);
        is($after - $before, 1, 'counted in ssl_proto_errors');
    }
    MCTest::mem_get_is($admin, 'k', 'v', 'the server still serves');
}

# Renegotiation is refused (TLS 1.2; TLS 1.3 has none).
{
    my $s = $srv->new_tls_sock(SSL_version => 'TLSv1_2');
    is(MCTest::cmd_line($s, "version\r\n"), "VERSION 1.6.18\r\n", 'TLS 1.2 connection works');
    my $ssl = $s->_get_ssl_object;
    Net::SSLeay::renegotiate($ssl);
    my $r = Net::SSLeay::do_handshake($ssl);
    my $e = Net::SSLeay::ERR_error_string(Net::SSLeay::ERR_get_error());
    ok($r != 1 && $e =~ /no renegotiation/, 'a client-initiated renegotiation is refused') or diag($e);
    MCTest::mem_get_is($admin, 'k', 'v', 'the server still serves');
}

# Bytes OpenSSL already decrypted are processed without waiting for the socket.
SKIP: {
    skip 'memcached 1.6.18 leaves decrypted bytes waiting for more socket input (known bug)', 3 if $ref;
    my $s = $srv->new_tls_sock;
    my $val = 'x' x 100_000;
    MCTest::send_cmd($s, "set big 0 0 100000\r\n$val\r\nget big\r\n");
    is(MCTest::read_line($s, 2), "STORED\r\n", 'large value stored');
    my $v = MCTest::read_values($s);
    ok($v && @$v == 1 && $v->[0][2] eq $val, 'the get pipelined right behind it is answered at once');
    MCTest::send_cmd($s, "set b2 0 0 100000\r\n$val\r\nversion\r\n");
    is(MCTest::cmd_lines($s, '', 2), "STORED\r\nVERSION 1.6.18\r\n", 'so is a version');
}

is(MCTest::cmd_line($admin, "version\r\n"), "VERSION 1.6.18\r\n", 'the first connection survived');
done_testing();
