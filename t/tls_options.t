#!/usr/bin/perl
# TLS startup options: every configuration error exits non-zero with a
# message naming the file (or value) and the OpenSSL reason; the ssl_* keys
# of `stats settings` have memcached's names, order and formats; the TLS
# counters in `stats`; ssl_keyformat with a DER key; ssl_kernel_tls.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use MCTest;

plan skip_all => 'TLS tests run under SSL_TEST=1 (make test_tls)' unless MCTest::is_tls();
plan skip_all => 'server built without TLS' unless index(MCTest::slurp(MCTest::bin()), 'SSL_CTX_new') >= 0;

my $ref = MCTest::is_reference();
my $d = MCTest::cert_dir();
my $tmp = tempdir('mctest-tlsopt-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @user = $> == 0 ? ('-u', 'root') : ();

# Start with exactly these TLS options; returns (exit code or undef, output).
sub start_fails {
    my ($o, @more) = @_;
    my @argv = ('-p', MCTest::free_port(), '-l', '127.0.0.1', @user, '-Z', @more);
    push @argv, '-o', $o if defined $o;
    my ($rc, $out) = MCTest::run_bin(\@argv, 3);
    return ($rc, $out);
}

sub refused {
    my ($o, $pattern, $name, @more) = @_;
    my ($rc, $out) = start_fails($o, @more);
    ok(defined $rc && $rc != 0 && $out =~ $pattern, $name)
        or diag('exit ' . ($rc // 'none (still running)') . ", output: $out");
}

open(my $g, '>', "$tmp/garbage.pem") or die $!;
print $g "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
close $g;
mkdir "$tmp/dir.pem";
my $crt = "$d/server_crt.pem";
my $key = "$d/server_key.pem";

refused("ssl_chain_cert=$crt,ssl_key=$key", qr/without a TCP port/,
    '-Z without a TCP port', '-p', '0', '-s', "$tmp/mc.sock");
refused(undef, qr/certificate/i, '-Z without a certificate');
refused("ssl_chain_cert=$tmp/nope.pem,ssl_key=$key",
    qr/\Q$tmp\E\/nope\.pem.*No such file/, 'missing certificate: file and reason');
refused("ssl_chain_cert=$tmp/dir.pem,ssl_key=$key",
    qr/\Q$tmp\E\/dir\.pem.*error:/, 'unreadable certificate (a directory): file and reason');
refused("ssl_chain_cert=$tmp/garbage.pem,ssl_key=$key",
    qr/\Q$tmp\E\/garbage\.pem.*error:/, 'garbage certificate: file and reason');
refused("ssl_chain_cert=$crt,ssl_key=$tmp/nope.pem",
    qr/\Q$tmp\E\/nope\.pem.*No such file/, 'missing key: file and reason');
refused("ssl_chain_cert=$crt,ssl_key=$d/mismatch_key.pem",
    qr/\Q$d\E\/mismatch_key\.pem.*key values mismatch/, 'mismatched key: file and reason');
refused("ssl_chain_cert=$crt,ssl_key=$key,ssl_ca_cert=$tmp/nope.pem",
    qr/CA certificate: \Q$tmp\E\/nope\.pem.*No such file/, 'missing CA file: file and reason');
refused("ssl_chain_cert=$crt,ssl_key=$key,ssl_ca_cert=$tmp/garbage.pem",
    qr/CA certificate: \Q$tmp\E\/garbage\.pem/, 'garbage CA file: file named');
refused("ssl_chain_cert=$crt,ssl_key=$key,ssl_ciphers=BOGUS", qr/cipher.*BOGUS/,
    'bad cipher string: named');
refused("ssl_chain_cert=$crt,ssl_key=$key,ssl_verify_mode=4", qr/ssl_verify_mode/,
    'ssl_verify_mode out of range');

# stats settings: memcached's ssl_* keys, in its order, with its formats.
# As in the reference's dump (/work/shared/reference/stats-settings-tls-1.6.18.txt).
my @ref_keys = qw(ssl_enabled ssl_chain_cert ssl_key ssl_verify_mode ssl_keyformat ssl_ciphers
    ssl_ca_cert ssl_wbuf_size ssl_session_cache ssl_kernel_tls ssl_min_version);
{
    my $srv = MCTest::new_server("-Z -o ssl_chain_cert=$crt,ssl_key=$key", { tls => 1, no_tls_args => 1 });
    my $s = $srv->new_tls_sock;
    my $list = MCTest::mem_stats_list($s, 'settings');
    my @got = grep { my $k = $_; grep { $_ eq $k } @ref_keys } map { $_->[0] } @$list;
    is_deeply(\@got, \@ref_keys, 'stats settings: every ssl_* key of memcached, in its order');
    my %st = map { @$_ } @$list;
    my %want = (ssl_enabled => 'yes', ssl_chain_cert => $crt, ssl_key => $key, ssl_verify_mode => 0,
        ssl_keyformat => 1, ssl_ciphers => 'NULL', ssl_ca_cert => 'NULL', ssl_wbuf_size => 16384,
        ssl_session_cache => 'no', ssl_kernel_tls => 'no', ssl_min_version => 'tlsv1.2');
    is_deeply({ map { $_ => $st{$_} } keys %want }, \%want, 'stats settings: default values');
    my $stats = MCTest::mem_stats($s);
    like($stats->{ssl_handshake_errors}, qr/^\d+$/, 'stats: ssl_handshake_errors');
    like($stats->{time_since_server_cert_refresh}, qr/^\d+$/, 'stats: time_since_server_cert_refresh');
    SKIP: {
        skip 'memcached 1.6.18 has no ssl_proto_errors', 1 if $ref;
        like($stats->{ssl_proto_errors}, qr/^\d+$/, 'stats: ssl_proto_errors');
    }
}
{
    my $plain = MCTest::new_server('', { tls => 0 });
    my $st = MCTest::mem_stats($plain->sock, 'settings');
    is($st->{ssl_enabled}, 'no', 'without -Z: ssl_enabled no');
    is($st->{ssl_chain_cert}, '(null)', 'without -Z: ssl_chain_cert (null)');
    my $stats = MCTest::mem_stats($plain->sock);
    ok(!exists $stats->{ssl_handshake_errors} && !exists $stats->{time_since_server_cert_refresh},
        'without -Z: no TLS counters in stats');
}

# A DER key with ssl_keyformat=2, and kernel TLS (falls back when the kernel lacks it).
{
    system("openssl pkey -in '$key' -outform DER -out '$tmp/key.der' 2>/dev/null") == 0
        or die 'openssl pkey failed';
    my $srv = MCTest::new_server("-Z -o ssl_chain_cert=$crt,ssl_key=$tmp/key.der,ssl_keyformat=2",
        { tls => 1, no_tls_args => 1 });
    my $s = $srv->new_tls_sock;
    is(MCTest::cmd_line($s, "version\r\n"), "VERSION 1.6.18\r\n", 'ssl_keyformat=2: DER key serves');
    is(MCTest::mem_stats($s, 'settings')->{ssl_keyformat}, 2, 'stats settings: ssl_keyformat 2');
    refused("ssl_chain_cert=$crt,ssl_key=$tmp/key.der", qr/\Q$tmp\E\/key\.der/,
        'a DER key read as PEM is refused, file named');

    my $k = MCTest::new_server("-Z -o ssl_chain_cert=$crt,ssl_key=$key,ssl_kernel_tls",
        { tls => 1, no_tls_args => 1 });
    my $ks = $k->new_tls_sock;
    my $val = 'k' x 100_000;
    is(MCTest::mem_set($ks, 'kt', $val), "STORED\r\n", 'ssl_kernel_tls: set');
    MCTest::mem_get_is($ks, 'kt', $val, 'ssl_kernel_tls: get');
    is(MCTest::mem_stats($ks, 'settings')->{ssl_kernel_tls}, 'yes', 'stats settings: ssl_kernel_tls yes');
}

# Certificates load before -u drops root (as memcached): a key only root can
# read still serves when the server runs as nobody.
SKIP: {
    skip 'needs root and a nobody user', 2 unless $> == 0 && defined getpwnam('nobody');
    system('cp', $key, "$tmp/rootkey.pem") == 0 or die 'cp failed';
    chmod 0600, "$tmp/rootkey.pem";
    my $srv = MCTest::new_server("-u nobody -Z -o ssl_chain_cert=$crt,ssl_key=$tmp/rootkey.pem",
        { tls => 1, no_tls_args => 1 });
    my $s = $srv->new_tls_sock;
    is(MCTest::cmd_line($s, "version\r\n"), "VERSION 1.6.18\r\n", '-u nobody: a root-only key serves');
    my $uid = (stat("/proc/" . $srv->pid))[4];
    is($uid, scalar getpwnam('nobody'), 'and the server runs as nobody');
}

done_testing();
