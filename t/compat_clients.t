#!/usr/bin/perl
# Compatibility with memcached clients nobody on the team wrote: pymemcache,
# pylibmc (libmemcached), Cache::Memcached, Cache::Memcached::Fast and the
# libmemcached command-line tools (including memccapable, libmemcached's own
# text-protocol conformance run). Each driver script in t/compat/ prints a
# transcript of what its client sees; the transcript must equal the one
# recorded against memcached 1.6.18 (t/compat/*.expected). A client whose
# package is missing is skipped; when none is installed the file skips.
#
# Under SSL_TEST=1 pymemcache talks TLS (tls_context, CA-verified) to the TLS
# listener, and the clients without TLS support use the plain listener that
# MCTest adds next to it, so they then also cover a mixed TLS/plain server.
#
# Re-record the transcripts (only against the reference):
#   COMPAT_RECORD=1 MEMCACHED_BIN=/usr/bin/memcached prove t/compat_clients.t
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use MCTest;

my $dir = MCTest::top_dir() . '/t/compat';
my $record = $ENV{COMPAT_RECORD} && MCTest::is_reference() && !MCTest::is_tls();

# The Debian Python modules live in /usr/lib/python3/dist-packages, which a
# python3 from pyenv or a venv earlier in PATH does not see.
my ($py) = grep { -f $_ && -x _ } '/usr/bin/python3',
    map { "$_/python3" } split(/:/, $ENV{PATH} // '');

sub py_has {
    my ($mod) = @_;
    return 0 unless defined $py && -x $py;
    return system("$py -c 'import $mod' >/dev/null 2>&1") == 0;
}

sub perl_has { return system("$^X -M$_[0] -e 1 >/dev/null 2>&1") == 0 }

sub have_tools {
    for my $t (qw(memcping memccp memccat memcrm memcflush memcstat memcexist
                  memctouch memccapable memcslap memcaslap)) {
        return 0 unless grep { -x "$_/$t" } split /:/, $ENV{PATH} // '';
    }
    return 1;
}

my @clients = (
    { name => 'pymemcache_client', have => sub { py_has('pymemcache') }, tls => 1,
      cmd => sub { ($py, "$dir/pymemcache_client.py", @_) } },
    { name => 'pylibmc_client', have => sub { py_has('pylibmc') },
      cmd => sub { ($py, "$dir/pylibmc_client.py", @_) } },
    { name => 'cache_memcached_fast', have => sub { perl_has('Cache::Memcached::Fast') },
      cmd => sub { ($^X, "$dir/perl_clients.pl", 'fast', @_) } },
    { name => 'cache_memcached', have => sub { perl_has('Cache::Memcached') },
      cmd => sub { ($^X, "$dir/perl_clients.pl", 'classic', @_) } },
    { name => 'libmemcached_tools', have => \&have_tools,
      cmd => sub { ($^X, "$dir/libmemcached_tools.pl", @_) } },
);
my @present = grep { $_->{have}->() } @clients;
plan skip_all => 'no third-party memcached client installed '
    . '(python3-pymemcache python3-pylibmc libcache-memcached-fast-perl '
    . 'libcache-memcached-perl libmemcached-tools)' unless @present;

# Runs a command with a time limit; returns (exit status, output).
sub run_cmd {
    my ($limit, @cmd) = @_;
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        exec { 'timeout' } 'timeout', $limit, @cmd;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub slurp_lines {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    my @l = <$fh>;
    close $fh;
    chomp @l;
    return \@l;
}

# Compares a transcript with the recorded one; on mismatch shows the first
# differing lines with their numbers, which is what a bug report needs.
sub transcript_is {
    my ($got, $name) = @_;
    my @got = split /\n/, $got;
    my $file = "$dir/$name.expected";
    if ($record) {
        open(my $fh, '>', $file) or die "$file: $!";
        print $fh "$_\n" for @got;
        close $fh;
    }
    my $exp = slurp_lines($file);
    return fail("$name: no recorded transcript $file") unless $exp;
    my @diff;
    my $n = @got > @$exp ? @got : @$exp;
    for my $i (0 .. $n - 1) {
        my ($g, $e) = ($got[$i] // '<missing>', $exp->[$i] // '<missing>');
        push @diff, sprintf("line %d\n   reference: %s\n   this:      %s", $i + 1, $e, $g)
            if $g ne $e;
    }
    ok(!@diff, "$name: transcript equals memcached 1.6.18's ("
        . scalar(@$exp) . ' lines)') or diag(join("\n", grep { defined } @diff[0 .. 14]));
}

my $tls = MCTest::is_tls();
for my $c (@clients) {
    SKIP: {
        skip "$c->{name}: client not installed", ($tls && $c->{tls} ? 3 : 2)
            unless $c->{have}->();
        my $srv = MCTest::new_server('');
        my @target = ('127.0.0.1', $srv->port);
        if ($tls && $c->{tls}) {
            push @target, '--tls', MCTest::cert_dir() . '/ca_crt.pem';
        } elsif ($tls) {
            @target = ('127.0.0.1', $srv->plain_port);
        }
        my $t0 = time;
        my ($rc, $out) = run_cmd(60, $c->{cmd}->(@target));
        is($rc, 0, "$c->{name}: driver exits 0") or diag(substr($out, -2000));
        if ($tls && $c->{tls}) {
            like($out, qr/^tls version => True\ntls peer cert present => True$/m,
                "$c->{name}: TLS 1.2+ session with a server certificate");
            $out =~ s/^tls [^\n]*\n//mg;
        }
        transcript_is($out, $c->{name});
        note(sprintf('%s: %.1f s', $c->{name}, time - $t0));
    }
}

# A binary-protocol client: the reference serves it; a text-only server must
# let it fail within its timeouts and keep serving text clients.
SKIP: {
    skip 'pylibmc not installed', 4 unless py_has('pylibmc');
    my $srv = MCTest::new_server('', { tls => 0 });
    my $t0 = time;
    my ($rc, $out) = run_cmd(20, $py, "$dir/pylibmc_client.py", '127.0.0.1', $srv->port,
        '--binary-probe');
    my $took = time - $t0;
    is($rc, 0, 'binary probe: driver exits 0') or diag($out);
    if (MCTest::is_reference()) {
        like($out, qr/^binary set => True\nbinary get => 'bv'$/m, 'binary probe: reference serves binary');
    } else {
        like($out, qr/^binary set => (True|'EXC Error')\nbinary get => ('bv'|'EXC Error')$/m,
            'binary probe: binary client gets answers or a client-side error');
    }
    like($out, qr/^text client after binary => True\ntext get after binary => 'tv'$/m,
        'binary probe: text clients are still served');
    cmp_ok($took, '<', 8, 'binary probe: no hang beyond the client timeouts');
}

done_testing();
