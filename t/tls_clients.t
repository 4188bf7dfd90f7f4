#!/usr/bin/perl
# Real clients other than IO::Socket::SSL: `openssl s_client -quiet` then
# `stats` (the usual smoke test, e.g. for ElastiCache), and Python's ssl
# module verifying the server certificate against the test CA, GnuTLS and
# Java (JSSE) on each TLS 1.3 suite with key updates. Session
# resumption through Python: stateless tickets without the session cache,
# the server-side cache with ssl_session_cache (counted in ssl_new_sessions),
# resumption while client certificates are verified, and no resumption of a
# session made before a certificate reload.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IPC::Open2 qw(open2);
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;

my $ref = MCTest::is_reference();
my $d = MCTest::cert_dir();
my $tmp = tempdir('mctest-clients-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $certs = "ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem";

sub server {
    my ($o) = @_;
    return MCTest::new_server("-Z -o $certs" . ($o ? ",$o" : ''), { tls => 1, no_tls_args => 1 });
}

# Run a shell command with stdin from a file; returns its stdout.
sub run_with_input {
    my ($cmd, $input) = @_;
    open(my $in, '>', "$tmp/in") or die $!;
    print $in $input;
    close $in;
    return scalar `timeout 10 $cmd < '$tmp/in' 2>'$tmp/err'`;
}

SKIP: {
    skip 'openssl command not found', 6 unless `openssl version 2>/dev/null` =~ /OpenSSL/;
    my $srv = server('');
    my $out = run_with_input("openssl s_client -quiet -verify_return_error -CAfile '$d/ca_crt.pem'"
        . " -verify_ip 127.0.0.1 -connect 127.0.0.1:" . $srv->port, "stats\r\nquit\r\n");
    like($out, qr/^STAT pid \d+\r$/m, 's_client: stats answers');
    like($out, qr/^STAT version 1\.6\.18\r$/m, 's_client: version');
    like($out, qr/^STAT ssl_handshake_errors \d+\r$/m, 's_client: ssl_handshake_errors');
    like($out, qr/^STAT time_since_server_cert_refresh \d+\r$/m, 's_client: time_since_server_cert_refresh');
    like($out, qr/^END\r$/m, 's_client: END');
    my $err = MCTest::slurp("$tmp/err");
    unlike($err, qr/verify error/i, 's_client: the server certificate verifies against the CA')
        or diag($err);
}

# GnuTLS: a TLS stack other than OpenSSL, on each TLS 1.3 AEAD suite, with
# KeyUpdate both ways (^rekey^ asks the server to update too) and a value
# spanning many records. Independent check of the server's record handling.
SKIP: {
    skip 'gnutls-cli not found', 15 unless `gnutls-cli --version 2>/dev/null` =~ /gnutls/i;
    my $srv = server('');
    my $big = join('', map { chr(97 + $_ % 26) } 0 .. 99_999);
    for my $cipher ('AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305') {
        open(my $in, '>', "$tmp/in") or die $!;
        print $in "set k 0 0 3\r\nabc\r\n^rekey^\nget k\r\n^rekey1^\n"
            . "set b 0 0 100000\r\n$big\r\nget b\r\n^rekey^\nversion\r\n";
        close $in;
        my $prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+$cipher";
        my $cmd = "(cat '$tmp/in'; sleep 1) | timeout 10 gnutls-cli --inline-commands"
            . " --x509cafile '$d/ca_crt.pem' --priority '$prio' -p " . $srv->port
            . " 127.0.0.1 2>'$tmp/err'";
        my $raw = `$cmd`;
        my $err = MCTest::slurp("$tmp/err");
        # gnutls-cli prints its own status lines ("- ...") among the data, e.g.
        # when a key update lands between two replies; keep only the data.
        my $out = join("\n", grep { !/^- / } split /\n/, $raw) . "\n";
        like($out, qr/^STORED\r\nVALUE k 0 3\r\nabc\r\nEND\r\n/m,
            "gnutls $cipher: set and get across a key update") or diag($err);
        like($out, qr/^VALUE b 0 100000\r\n\Q$big\E\r\nEND\r\n/m,
            "gnutls $cipher: 100 KB value after a second key update");
        like($out, qr/^VERSION 1\.6\.18\r$/m, "gnutls $cipher: still talking after a third");
        like($err . $raw, qr/\Q$cipher\E/i,
            "gnutls $cipher: that suite was negotiated");
        unlike($err, qr/Error|fatal/i, "gnutls $cipher: no TLS error") or diag($err);
    }
}

# Java's own TLS stack (JSSE): each TLS 1.3 suite, a 200 KB value, and key
# limits of 64 KB so JSSE sends KeyUpdates mid-value (t/compat/JavaTlsClient.java).
SKIP: {
    skip 'java not found', 5 unless `java -version 2>&1` =~ /version "(\d+)/ && $1 >= 11;
    my $srv = server('');
    my $cmd = "timeout 120 java -Djavax.net.debug=ssl:handshake t/compat/JavaTlsClient.java "
        . $srv->port . " '$d/ca_crt.pem' 2>&1";
    my $out = `$cmd`;
    for my $suite ('TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256') {
        like($out, qr/^TLSv1\.3 $suite ok$/m, "java $suite: 200 KB value and version")
            or diag(join("\n", grep { /BAD|Exception/ } split /\n/, $out));
    }
    like($out, qr/Produced KeyUpdate post-handshake message/, 'java sent key updates');
  SKIP: {
        # RFC 8446 4.6.3: a KeyUpdate with update_requested MUST be answered
        # before the next application data. memcached 1.6.18 (OpenSSL 3.0)
        # sends its replies without one here; JSSE logs no KeyUpdate received.
        skip 'memcached 1.6.18 does not answer update_requested here (RFC 8446 4.6.3)', 1 if $ref;
        like($out, qr/Consuming KeyUpdate post-handshake message/,
            'the server answers update_requested with its own KeyUpdate');
    }
}

SKIP: {
    skip 'python3 not found', 16 unless `python3 -c 'import ssl; print(1)' 2>/dev/null` =~ /1/;
    open(my $py, '>', "$tmp/client.py") or die $!;
    print $py <<'PY';
import socket, ssl, sys
# client.py PORT CAFILE MAXVER CERT|- KEY|- CONNECTIONS [pause]: one line per connection
port, ca, maxver, cert, key, n = sys.argv[1:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if maxver != '-':
    ctx.maximum_version = getattr(ssl.TLSVersion, maxver)
if cert != '-':
    ctx.load_cert_chain(cert, key)
sess = None
for i in range(int(n)):
    try:
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(port)), timeout=3),
                            server_hostname='127.0.0.1', session=sess)
        s.sendall(b'set py%d 0 0 5\r\nhello\r\nget py%d\r\n' % (i, i))
        buf = b''
        while not buf.endswith(b'END\r\n'):
            d = s.recv(4096)
            if not d:
                break
            buf += d
        ok = buf == b'STORED\r\nVALUE py%d 0 5\r\nhello\r\nEND\r\n' % i
        print('conn %d ok=%d reused=%d %s' % (i, ok, s.session_reused, s.version()))
        sess = s.session
        s.close()
    except Exception as e:
        print('conn %d error %s' % (i, e))
    if i == 0 and len(sys.argv) > 7:
        sys.stdout.flush()
        sys.stdin.readline()
PY
    close $py;
    my $client = sub {
        my ($srv, $maxver, $who, $n) = @_;
        my @c = $who ? ("$d/${who}_crt.pem", "$d/${who}_key.pem") : ('-', '-');
        my $port = $srv->port;
        return scalar `timeout 10 python3 '$tmp/client.py' $port '$d/ca_crt.pem' $maxver @c $n 2>&1`;
    };

    my $srv = server('');
    for my $v (qw(TLSv1_2 TLSv1_3)) {
        my $out = $client->($srv, $v, '', 2);
        (my $name = $v) =~ tr/_/./;
        like($out, qr/^conn 0 ok=1 reused=0 \Q$name\E$/m, "python $v: verified, set and get");
        like($out, qr/^conn 1 ok=1 reused=1 /m, "python $v: resumes with a ticket, no session cache");
    }
    is(MCTest::mem_stats($srv->new_tls_sock, 'settings')->{ssl_session_cache}, 'no',
        'stats settings: ssl_session_cache no');

    my $cached = server('ssl_session_cache');
    my $before = MCTest::mem_stats($cached->new_tls_sock)->{ssl_new_sessions};
    for my $v (qw(TLSv1_2 TLSv1_3)) {
        my $out = $client->($cached, $v, '', 2);
        like($out, qr/^conn 1 ok=1 reused=1 /m, "python $v: resumes from the session cache");
    }
    my $st = MCTest::mem_stats($cached->new_tls_sock);
    cmp_ok($st->{ssl_new_sessions} - $before, '>=', 2, 'ssl_new_sessions counts the cached sessions');
    is(MCTest::mem_stats($cached->new_tls_sock, 'settings')->{ssl_session_cache}, 'yes',
        'stats settings: ssl_session_cache yes');

    SKIP: {
        skip 'memcached 1.6.18 sets no session ID context: resuming while verifying client '
            . 'certificates fails with an internal error (known bug)', 4 if $ref;
        my $verify = server("ssl_ca_cert=$d/ca_crt.pem,ssl_verify_mode=1");
        for my $v (qw(TLSv1_2 TLSv1_3)) {
            my $out = $client->($verify, $v, 'client', 2);
            like($out, qr/^conn 0 ok=1 reused=0 /m, "python $v with a client certificate: served");
            like($out, qr/^conn 1 ok=1 reused=1 /m, "python $v with a client certificate: resumes");
        }
    }

    SKIP: {
        skip 'memcached 1.6.18 keeps its ticket keys across refresh_certs', 6 if $ref;
        for my $o ('', 'ssl_session_cache') {
            my $r = server($o);
            # First connection, then refresh, then the resumption attempt.
            my $port = $r->port;
            my $pid = open2(my $out, my $in, 'timeout', '10', 'python3', "$tmp/client.py", $port,
                "$d/ca_crt.pem", '-', '-', '-', '2', 'pause');
            my $first = <$out> // '';
            like($first, qr/^conn 0 ok=1 reused=0/, "refresh ($o): first connection");
            is(MCTest::cmd_line($r->new_tls_sock, "refresh_certs\r\n"), "OK\r\n", "refresh ($o): OK");
            print $in "\n";
            close $in;
            my $second = <$out> // '';
            waitpid($pid, 0);
            like($second, qr/^conn 1 ok=1 reused=0/,
                "refresh ($o): a session from before the reload is not resumed");
        }
    }
}

done_testing();
