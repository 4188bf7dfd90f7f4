#!/usr/bin/perl
# Certificate rotation: refresh_certs and SIGHUP reload chain, key and CA
# from the configured paths. New connections get the new certificate,
# existing ones keep working; on every failure the reply names the file and
# the OpenSSL reason, and the last good certificate keeps serving.
#
# memcached 1.6.18 reloads piecewise into its live context, so a new
# certificate with a mismatched key leaves it unable to complete any new
# handshake; it also ignores SIGHUP and starts time_since_server_cert_refresh
# about 60 s high. Those checks are skipped against it.
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;
require IO::Socket::SSL;

my $ref = MCTest::is_reference();
my $d = MCTest::cert_dir();
my $w = tempdir('mctest-rotate-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($crt, $key, $ca) = ("$w/crt.pem", "$w/key.pem", "$w/ca.pem");

sub put {
    my ($from, $to) = @_;
    copy($from, "$to.tmp") or die "copy $from: $!";
    rename("$to.tmp", $to) or die "rename $to: $!";
}

sub put_text {
    my ($text, $to) = @_;
    open(my $fh, '>', $to) or die "$to: $!";
    print $fh $text;
    close $fh;
}

# The sha256 fingerprint of a PEM certificate, as IO::Socket::SSL prints it.
sub file_fp {
    my ($f) = @_;
    my $out = `openssl x509 -in '$f' -noout -fingerprint -sha256`;
    my ($hex) = $out =~ /=([0-9A-F:]+)/ or die "fingerprint of $f: $out";
    $hex =~ s/://g;
    return 'sha256$' . lc $hex;
}

# The fingerprint a new connection sees, or "fail: reason".
sub new_fp {
    my ($srv) = @_;
    my $s = eval { $srv->new_tls_sock };
    return "fail: $@" unless $s;
    my $l = MCTest::cmd_line($s, "version\r\n");
    return 'fail: no reply' unless defined $l && $l =~ /^VERSION/;
    return $s->get_fingerprint('sha256');
}

my ($fp1, $fp2) = (file_fp("$d/server_crt.pem"), file_fp("$d/server2_crt.pem"));
isnt($fp1, $fp2, 'the two server certificates differ');

put("$d/server_crt.pem", $crt);
put("$d/server_key.pem", $key);
put("$d/ca_crt.pem", $ca);
my $srv = MCTest::new_server("-Z -o ssl_chain_cert=$crt,ssl_key=$key,ssl_ca_cert=$ca",
    { tls => 1, no_tls_args => 1 });
my $old = $srv->new_tls_sock;
is($old->get_fingerprint('sha256'), $fp1, 'serves the first certificate');
is(MCTest::mem_set($old, 'k', 'before'), "STORED\r\n", 'set on the old connection');

my $st = MCTest::mem_stats($old);
SKIP: {
    skip 'memcached 1.6.18 starts time_since_server_cert_refresh ~60 s high (known bug)', 1 if $ref;
    cmp_ok($st->{time_since_server_cert_refresh}, '<=', $st->{uptime} + 1,
        'time_since_server_cert_refresh counts from the startup load');
}

# --- success
sleep 1.5;
my $t_before = MCTest::mem_stats($old)->{time_since_server_cert_refresh};
put("$d/server2_crt.pem", $crt);
put("$d/server2_key.pem", $key);
is(MCTest::cmd_line($old, "refresh_certs\r\n"), "OK\r\n", 'refresh_certs: OK');
is(new_fp($srv), $fp2, 'a new connection gets the new certificate');
is($old->get_fingerprint('sha256'), $fp1, 'the old connection keeps its session');
MCTest::mem_get_is($old, 'k', 'before', 'the old connection still works');
my $fresh = $srv->new_tls_sock;
MCTest::mem_get_is($fresh, 'k', 'before', 'a new connection sees the same cache');
my $t_after = MCTest::mem_stats($old)->{time_since_server_cert_refresh};
ok($t_after <= 1 && $t_after < $t_before,
    "time_since_server_cert_refresh restarts ($t_before -> $t_after)");
is(MCTest::sync_reply($old, "refresh_certs noreply\r\n"), '', 'refresh_certs noreply: no reply');

# --- failures: [name, setup, reply pattern, reference breaks]
my @fail = (
    ['missing certificate file', sub { unlink $crt },
        qr/^Error loading the certificate chain: \Q$crt\E : error:\S+:.*No such file/],
    ['garbage certificate PEM', sub { put_text("not a certificate\n", $crt) },
        qr/^Error loading the certificate chain: \Q$crt\E : error:\S+:.*no start line/],
    ['garbage key PEM', sub { put("$d/server2_crt.pem", $crt); put_text("junk\n", $key) },
        qr/^Error loading the key: \Q$key\E : error:/],
    ['missing key file', sub { unlink $key },
        qr/^Error loading the key: \Q$key\E : error:\S+:.*No such file/],
    ['missing CA file', sub { put("$d/server2_key.pem", $key); unlink $ca },
        qr/^Error loading the CA certificate: \Q$ca\E : error:/],
    ['new certificate with a mismatched key',
        sub { put("$d/ca_crt.pem", $ca); put("$d/server_crt.pem", $crt); put("$d/mismatch_key.pem", $key) },
        qr/^Error loading the key: \Q$key\E : error:\S+:.*key values mismatch/, 1],
);
for my $f (@fail) {
    my ($name, $setup, $pat, $ref_breaks) = @$f;
    $setup->();
    my $errs = MCTest::mem_stats($old)->{ssl_handshake_errors};
    like(MCTest::cmd_line($old, "refresh_certs\r\n") // '', $pat, "$name: error names the file and reason");
    SKIP: {
        skip "memcached 1.6.18 loads into its live context: $name breaks new handshakes (known bug)", 2
            if $ref && $ref_breaks;
        is(new_fp($srv), $fp2, "$name: new connections still get the last good certificate");
        is(MCTest::mem_stats($old)->{ssl_handshake_errors}, $errs, "$name: no handshake failed");
    }
    MCTest::mem_get_is($old, 'k', 'before', "$name: the old connection still works");
}

# --- good files again: rotate back
put("$d/server_key.pem", $key);
is(MCTest::cmd_line($old, "refresh_certs\r\n"), "OK\r\n", 'refresh_certs after the failures: OK');
is(new_fp($srv), $fp1, 'new connections get the first certificate again');

# --- SIGHUP
SKIP: {
    skip 'memcached 1.6.18 does not reload certificates on SIGHUP', 5 if $ref;
    put("$d/server2_crt.pem", $crt);
    put("$d/server2_key.pem", $key);
    ok($srv->kill('HUP'), 'SIGHUP sent');
    my $deadline = time + 3;
    my $fp = new_fp($srv);
    while ($fp ne $fp2 && time < $deadline) {
        sleep 0.05;
        $fp = new_fp($srv);
    }
    is($fp, $fp2, 'SIGHUP: new connections get the new certificate');
    put("$d/mismatch_key.pem", $key);
    put("$d/server_crt.pem", $crt);
    $srv->kill('HUP');
    sleep 0.3;
    ok($srv->is_running, 'SIGHUP with a mismatched key: the server keeps running');
    is(new_fp($srv), $fp2, 'SIGHUP with a mismatched key: the last good certificate keeps serving');
    like($srv->log_text, qr/\Q$key\E/, 'SIGHUP failure is logged with the file name');
}
MCTest::mem_get_is($old, 'k', 'before', 'the first connection survived every rotation');

# --- without -Z
my $plain = MCTest::new_server('', { tls => 0 });
is(MCTest::cmd_line($plain->sock, "refresh_certs\r\n"), "Error TLS not enabled\r\n",
    'refresh_certs without -Z');

done_testing();
