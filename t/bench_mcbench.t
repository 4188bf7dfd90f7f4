#!/usr/bin/perl
# bench/mcbench, the load generator: a short run against a real server gives a
# parseable RESULT line with no errors; --requests, --reconnect-every, --idle,
# --tls-resume and --server-pid do what they claim; a refused connection and a
# server that returns a wrong value are both detected (non-zero exit).
# Runs plain, or TLS with SSL_TEST=1. Skipped when bench/mcbench is not built.
use strict;
use warnings;
no warnings 'exec';
use Test::More;
use lib 't/lib';
use MCTest;
use File::Spec;
use File::Temp qw(tempfile);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $MCBENCH = File::Spec->catfile(MCTest::top_dir(), 'bench', 'mcbench');
plan skip_all => "bench/mcbench is not built (bench/build.sh or make)" unless -x $MCBENCH;

# Runs mcbench; returns (exit code, {RESULT fields}, stderr text).
sub mcbench {
    my @args = @_;
    my ($efh, $efile) = tempfile(UNLINK => 1);
    my $pid = open(my $out, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>&', $efh) or POSIX::_exit(126);
        exec { $MCBENCH } $MCBENCH, '-q', @args;
        POSIX::_exit(127);
    }
    my $text = '';
    my $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 30;
        local $/;
        $text = <$out> // '';
        alarm 0;
        1;
    };
    kill 'KILL', $pid unless $ok;
    close $out;
    my $rc = $? >> 8;
    my %r;
    if ($text =~ /^RESULT (.*)$/m) {
        %r = map { split /=/, $_, 2 } split ' ', $1;
    }
    return ($rc, \%r, MCTest::slurp($efile));
}

sub tls_opts {
    return () unless MCTest::is_tls();
    my $dir = MCTest::cert_dir();
    my $ca = -f "$dir/ca_crt.pem" ? "$dir/ca_crt.pem" : "$dir/server_crt.pem";
    return ('--tls', '--cacert', $ca);
}

my $srv = MCTest::new_server('-m 64 -t 2');
my @to = ('-p', $srv->port, tls_opts());

# 1. A one-second mixed run after prefill: every get must hit. Against
# memcached 1.6.18 over TLS: no pipelining and small values (prefill always
# pipelines), as it leaves requests that OpenSSL already decrypted
# unanswered until more bytes arrive (known bug), so the run would stall.
{
    my $buggy = MCTest::is_reference() && MCTest::is_tls();
    my @shape = $buggy ? qw(-P 1 -v 10-200) : qw(-P 4 -v 10-2000);
    my ($rc, $r, $err) = mcbench(@to, qw(-d 1 -c 4 -k 500 -r 1:4 --prefill), @shape,
        '--server-pid', $srv->pid);
    is($rc, 0, 'mixed run exits 0') or diag($err);
    ok(exists $r->{ops_per_sec} && exists $r->{p99_us} && exists $r->{p999_us},
        'RESULT line has throughput and latency fields');
    cmp_ok($r->{ops} // 0, '>', 100, 'ops > 100 in one second');
    is($r->{errors}, 0, 'no errors');
    is($r->{misses}, 0, 'no misses after --prefill');
    cmp_ok($r->{hits} // 0, '>', 0, 'gets hit');
    cmp_ok($r->{sets} // 0, '>', 0, 'sets happened');
    is($r->{prefilled}, 500, 'prefill set every key once');
    is($r->{sets} + $r->{gets}, $r->{ops}, 'sets + gets = ops');
    like($r->{server_cpu_us_per_op} // '', qr/^\d+(\.\d+)?$/, 'server CPU per op measured');
    cmp_ok($r->{duration_s} // 0, '>=', 0.95, 'ran about one second (lower bound)');
    cmp_ok($r->{duration_s} // 9, '<', 3, 'ran about one second (upper bound)');
    cmp_ok($r->{p50_us} // 0, '>', 0, 'p50 > 0');
    cmp_ok($r->{p50_us} // 0, '<=', $r->{p99_us} // 0, 'p50 <= p99');
}

# 2. --requests bounds the run exactly, well before --duration.
{
    my $t0 = time;
    my ($rc, $r, $err) = mcbench(@to, qw(-n 777 -d 20 -c 3 -P 2 -k 100));
    is($rc, 0, '--requests run exits 0') or diag($err);
    is($r->{ops}, 777, 'exactly 777 requests');
    cmp_ok(time - $t0, '<', 10, 'stopped by the request count, not the duration');
}

# 3. --reconnect-every 1: one connection per op; resumption only when asked.
{
    my ($rc, $r, $err) = mcbench(@to, qw(-n 60 -c 3 -k 100 --reconnect-every 1));
    is($rc, 0, 'reconnect run exits 0') or diag($err);
    is($r->{ops}, 60, '60 ops');
    is($r->{connects}, 60, 'one connection setup per op');
    is($r->{resumed}, 0, 'no resumption without --tls-resume');
}
SKIP: {
    skip 'TLS only (SSL_TEST=1)', 3 unless MCTest::is_tls();
    my ($rc, $r, $err) = mcbench(@to, qw(-n 60 -c 3 -k 100 --reconnect-every 1 --tls-resume));
    is($rc, 0, 'resumed reconnect run exits 0') or diag($err);
    is($r->{connects}, 60, 'one connection setup per op');
    cmp_ok($r->{resumed} // 0, '>=', 50, 'nearly all handshakes resumed from tickets');
}

# 4. --idle holds connections open during the run and reports server RSS.
{
    my ($rc, $r, $err) = mcbench(@to, qw(-d 0.5 -c 1 --idle 40), '--server-pid', $srv->pid);
    is($rc, 0, 'idle run exits 0') or diag($err);
    is($r->{idle}, 40, '40 idle connections');
    is($r->{errors}, 0, 'idle connections survived');
    like($r->{server_rss_per_idle_conn_bytes} // '', qr/^-?\d+$/, 'RSS per idle connection reported');
    my $stats = MCTest::mem_stats($srv->new_sock, '');
    cmp_ok($stats->{total_connections}, '>=', 41, 'server saw the idle connections');
}

# 5. Nothing listening: connection failure, exit 2.
{
    my $port = MCTest::free_port();
    my ($rc, $r, $err) = mcbench('-p', $port, qw(-d 1 -c 2));
    is($rc, 2, 'refused connection exits 2');
    is($r->{conn_failures}, 2, 'both connections counted as failed');
    like($err, qr/refused/i, 'reason printed');
}

# 6. A server returning a wrong value is caught by the value check (plain
# fake server, so this runs the same in both modes).
{
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5,
        ReuseAddr => 1) or die "listen: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        alarm 10;
        my $c = $l->accept or POSIX::_exit(1);
        while (defined(my $line = <$c>)) {
            if ($line =~ /^set \S+ \d+ \d+ (\d+)/) {
                read($c, my $skip, $1 + 2);
                print $c "STORED\r\n";
            } elsif ($line =~ /^get (\S+)/) {
                print $c "VALUE $1 0 4\r\nzzzz\r\nEND\r\n";   # values start "0123"
            }
        }
        POSIX::_exit(0);
    }
    my ($rc, $r, $err) = mcbench('-p', $l->sockport, qw(-n 20 -c 1 -r 0:1 -d 5));
    is($rc, 1, 'corrupt values make mcbench exit 1');
    is($r->{errors}, 20, 'every corrupt get counted as an error');
    is($r->{conn_failures}, 0, 'not a connection failure');
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# 7. Bad options are rejected before any connection is made.
{
    my ($rc) = mcbench(qw(--pipeline 0));
    is($rc, 64, 'bad option exits 64');
}

done_testing();
