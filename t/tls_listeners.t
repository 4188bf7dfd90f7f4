#!/usr/bin/perl
# Listener prefixes on -l: notls: (plain even with -Z), mtls: (TLS, client
# certificate required whatever ssl_verify_mode says), btls: (TLS, client
# certificate never checked), and plain TLS listeners, all at once and all
# sharing one cache. memcached 1.6.18 knows only notls:, so the mtls:/btls:
# parts are skipped against it.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;
require IO::Socket::SSL;

my $ref = MCTest::is_reference();
my $d = MCTest::cert_dir();
my $certs = "ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem,ssl_ca_cert=$d/ca_crt.pem";
my %client = (
    none    => [],
    foreign => [SSL_cert_file => "$d/foreign_client_crt.pem", SSL_key_file => "$d/foreign_client_key.pem"],
    good    => [SSL_cert_file => "$d/client_crt.pem", SSL_key_file => "$d/client_key.pem"],
);

# A TLS socket that answered `version`, or undef.
sub tls_sock {
    my ($port, $who) = @_;
    my $s = IO::Socket::SSL->new(
        PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 3,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(), SSL_hostname => '',
        @{ $client{$who} })
        or return undef;
    my $l = MCTest::cmd_line($s, "version\r\n");
    return defined $l && $l =~ /^VERSION / ? $s : undef;
}

my ($p_plain, $p_mtls, $p_btls) = map { MCTest::free_port() } 1 .. 3;
my $inter = "notls:127.0.0.1:$p_plain,"
    . ($ref ? '' : "mtls:127.0.0.1:$p_mtls,btls:127.0.0.1:$p_btls,") . '127.0.0.1';
my $srv = MCTest::new_server("-Z -o $certs,ssl_verify_mode=0 -l $inter", { tls => 1, no_tls_args => 1 });

my $plain = $srv->new_plain_sock($p_plain);
is(MCTest::mem_set($plain, 'shared', 'from-plain'), "STORED\r\n", 'notls: plain set works');
ok(!tls_sock($p_plain, 'none'), 'notls: a TLS client gets no service');
my $tls = tls_sock($srv->port, 'none');
ok($tls, 'default listener, verify mode 0: served without a client certificate');
MCTest::mem_get_is($tls, 'shared', 'from-plain', 'default listener sees the plain listener\'s value');
{
    my $s = $srv->new_plain_sock($srv->port);
    MCTest::send_cmd($s, "get shared\r\n");
    ok(MCTest::is_closed($s, 3), 'a plain client on the TLS listener is closed');
}
my $st = MCTest::mem_stats($tls, 'settings');
is($st->{inter}, $inter, 'stats settings: inter shows the listeners as given');

SKIP: {
    skip 'memcached 1.6.18 has no mtls:/btls: listeners', 9 if $ref;
    ok(!tls_sock($p_mtls, 'none'), 'mtls: refused without a client certificate');
    ok(!tls_sock($p_mtls, 'foreign'), 'mtls: refused with a foreign CA\'s certificate');
    my $m = tls_sock($p_mtls, 'good');
    ok($m, 'mtls: served with a good client certificate');
    MCTest::mem_get_is($m, 'shared', 'from-plain', 'mtls sees the shared cache');
    my $b = tls_sock($p_btls, 'foreign');
    ok($b, 'btls: a foreign certificate is not checked');
    ok(tls_sock($p_btls, 'none'), 'btls: served without a client certificate');
    is(MCTest::mem_set($b, 'shared', 'from-btls'), "STORED\r\n", 'btls: set');
    MCTest::mem_get_is($plain, 'shared', 'from-btls', 'the plain listener sees the btls value');
    MCTest::mem_get_is($m, 'shared', 'from-btls', 'so does mtls');
}

SKIP: {
    skip 'memcached 1.6.18 has no btls: listeners', 3 if $ref;
    my $pb = MCTest::free_port();
    my $strict = MCTest::new_server("-Z -o $certs,ssl_verify_mode=2 -l btls:127.0.0.1:$pb,127.0.0.1",
        { tls => 1, no_tls_args => 1 });
    ok(!tls_sock($strict->port, 'none'), 'verify mode 2: default listener requires a certificate');
    ok(tls_sock($strict->port, 'good'), 'verify mode 2: default listener accepts a good one');
    ok(tls_sock($pb, 'none'), 'verify mode 2: a btls listener still needs none');
}

SKIP: {
    skip 'memcached 1.6.18 has no mtls: listeners', 1 if $ref;
    my ($rc, $out) = MCTest::run_bin(['-p', MCTest::free_port(), ($> == 0 ? ('-u', 'root') : ()),
        '-l', 'mtls:127.0.0.1', '-Z', '-o', "ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem"], 5);
    ok(defined $rc && $rc != 0 && $out =~ /ssl_ca_cert/, 'mtls: without ssl_ca_cert is refused at startup')
        or diag("rc " . ($rc // 'killed') . ": $out");
}

{
    my ($rc, $out) = MCTest::run_bin(['-p', MCTest::free_port(), ($> == 0 ? ('-u', 'root') : ()),
        '-l', 'notls:127.0.0.1'], 5);
    ok(defined $rc && $rc != 0 && $out =~ /notls/, 'notls: without -Z is refused at startup')
        or diag("rc " . ($rc // 'killed') . ": $out");
}

done_testing();
