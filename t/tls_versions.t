#!/usr/bin/perl
# TLS protocol versions and cipher selection: TLS 1.0/1.1 refused by
# default, 1.2/1.3 served; ssl_min_version; ssl_ciphers (TLS <= 1.2) and
# ssl_ciphersuites (TLS 1.3, not in memcached 1.6.18).
#
# The client allows every version and cipher (@SECLEVEL=0), so a refusal is
# the server's doing; a server with ssl_min_version=0 proves the client can
# really speak TLS 1.0 here, so the "refused" checks can fail.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;
require IO::Socket::SSL;

my $d = MCTest::cert_dir();
my $certs = "ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem";

sub server {
    my ($o) = @_;
    return MCTest::new_server("-Z -o $certs" . ($o ? ",$o" : ''), { tls => 1, no_tls_args => 1 });
}

# Connect with %o and run `version`: "ok <protocol> <cipher>" or "fail ...".
sub try_tls {
    my ($srv, %o) = @_;
    my $s = IO::Socket::SSL->new(
        PeerHost => '127.0.0.1', PeerPort => $srv->port, Timeout => 3,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(), SSL_hostname => '',
        SSL_cipher_list => 'DEFAULT:@SECLEVEL=0', %o)
        or return "fail connect: $IO::Socket::SSL::SSL_ERROR";
    my $l = MCTest::cmd_line($s, "version\r\n");
    return "fail no reply" unless defined $l && $l =~ /^VERSION /;
    return join(' ', 'ok', $s->get_sslversion, $s->get_cipher);
}

my %v = (
    '1.0' => 'TLSv1', '1.1' => 'TLSv1_1', '1.2' => 'TLSv1_2', '1.3' => 'TLSv1_3',
);

{
    my $srv = server('');
    like(try_tls($srv, SSL_version => $v{'1.0'}), qr/^fail/, 'default: TLS 1.0 refused');
    like(try_tls($srv, SSL_version => $v{'1.1'}), qr/^fail/, 'default: TLS 1.1 refused');
    like(try_tls($srv, SSL_version => $v{'1.2'}), qr/^ok TLSv1_2 /, 'default: TLS 1.2 served');
    like(try_tls($srv, SSL_version => $v{'1.3'}), qr/^ok TLSv1_3 /, 'default: TLS 1.3 served');
    like(try_tls($srv), qr/^ok TLSv1_3 /, 'default: a modern client gets TLS 1.3');
    my $st = MCTest::mem_stats($srv->new_tls_sock, 'settings');
    is($st->{ssl_min_version}, 'tlsv1.2', 'stats settings: ssl_min_version tlsv1.2');
}

{
    # Control: the client really can do 1.0/1.1 when the server allows it.
    my $srv = server('ssl_min_version=0,ssl_ciphers=DEFAULT:@SECLEVEL=0');
    like(try_tls($srv, SSL_version => $v{'1.0'}), qr/^ok TLSv1 /, 'min 0: TLS 1.0 served');
    like(try_tls($srv, SSL_version => $v{'1.1'}), qr/^ok TLSv1_1 /, 'min 0: TLS 1.1 served');
    my $st = MCTest::mem_stats($srv->new_tls_sock, 'settings');
    is($st->{ssl_min_version}, 'tlsv1.0', 'stats settings: ssl_min_version tlsv1.0');
}

{
    my $srv = server('ssl_min_version=3');
    like(try_tls($srv, SSL_version => $v{'1.2'}), qr/^fail/, 'min 3: TLS 1.2 refused');
    like(try_tls($srv, SSL_version => $v{'1.3'}), qr/^ok TLSv1_3 /, 'min 3: TLS 1.3 served');
    my $st = MCTest::mem_stats($srv->new_tls_sock, 'settings');
    is($st->{ssl_min_version}, 'tlsv1.3', 'stats settings: ssl_min_version tlsv1.3');
}

{
    my $srv = server('ssl_ciphers=ECDHE-ECDSA-AES128-GCM-SHA256');
    is(try_tls($srv, SSL_version => $v{'1.2'}), 'ok TLSv1_2 ECDHE-ECDSA-AES128-GCM-SHA256',
        'ssl_ciphers: TLS 1.2 negotiates the only allowed cipher');
    like(try_tls($srv, SSL_version => $v{'1.2'}, SSL_cipher_list => 'ECDHE-ECDSA-AES256-GCM-SHA384'),
        qr/^fail/, 'ssl_ciphers: a client without that cipher is refused');
    like(try_tls($srv, SSL_version => $v{'1.3'}), qr/^ok TLSv1_3 /,
        'ssl_ciphers does not restrict TLS 1.3');
    my $st = MCTest::mem_stats($srv->new_tls_sock, 'settings');
    is($st->{ssl_ciphers}, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'stats settings: ssl_ciphers');
}

SKIP: {
    skip 'memcached 1.6.18 has no ssl_ciphersuites (TLS 1.3 suites)', 5 if MCTest::is_reference();
    my $srv = server('ssl_ciphersuites=TLS_CHACHA20_POLY1305_SHA256');
    is(try_tls($srv, SSL_version => $v{'1.3'}), 'ok TLSv1_3 TLS_CHACHA20_POLY1305_SHA256',
        'ssl_ciphersuites: TLS 1.3 negotiates the only allowed suite');
    like(try_tls($srv, SSL_version => $v{'1.3'}, SSL_ciphersuites => 'TLS_AES_128_GCM_SHA256'),
        qr/^fail/, 'ssl_ciphersuites: a client without that suite is refused');
    like(try_tls($srv, SSL_version => $v{'1.2'}), qr/^ok TLSv1_2 /,
        'ssl_ciphersuites does not restrict TLS 1.2');
    my $st = MCTest::mem_stats($srv->new_tls_sock, 'settings');
    is($st->{ssl_ciphersuites}, 'TLS_CHACHA20_POLY1305_SHA256', 'stats settings: ssl_ciphersuites');
    my ($rc, $out) = MCTest::run_bin(['-p', MCTest::free_port(), '-l', '127.0.0.1',
        ($> == 0 ? ('-u', 'root') : ()), '-Z', '-o', "$certs,ssl_ciphersuites=NOPE"], 5);
    ok(defined $rc && $rc != 0 && $out =~ /NOPE/, 'a bad ssl_ciphersuites is refused at startup')
        or diag("rc " . ($rc // 'killed') . ": $out");
}

done_testing();
