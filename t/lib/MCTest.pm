package MCTest;

# Shared helper for the Perl integration tests: starts a server (ours or the
# reference named by MEMCACHED_BIN) on a free loopback port, plain or TLS, and
# offers small, timeout-bounded socket helpers so that a server that hangs makes
# a test fail instead of stalling the whole suite.
#
# Reads are unbuffered on purpose: read_line() peeks and then consumes exactly
# one line, read_bytes() consumes exactly N bytes. That way a test may mix these
# helpers with its own sysread() calls without data being hidden in a Perl-side
# buffer. Do not use <$sock> (PerlIO buffering) on a socket that is also read
# with these helpers.

use strict;
use warnings;
no warnings qw(exec once);
use Carp qw(croak);
use Cwd qw(abs_path);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken);
use Socket qw(MSG_PEEK SOCK_STREAM);
use Text::ParseWords qw(shellwords);
use Time::HiRes qw(sleep time);
use Test::More ();

our $TIMEOUT = 3;            # seconds a single read/write may wait
our $START_TIMEOUT = 5;      # seconds a server may take to accept

my $TOP = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..'));
my @LIVE;                    # weak refs to started servers, stopped at END
my $KEEP_LOGS = 0;           # set when a server failed; logs are kept

# A test that dies (or is killed by prove) must not leave servers behind:
# writes to a closed socket return EPIPE instead of killing the test, and
# each server child asks the kernel to SIGKILL it when the test exits.
$SIG{PIPE} = 'IGNORE';

sub die_with_parent {
    require Config;
    my %nr = ('x86_64-linux' => 157, 'aarch64-linux' => 167);
    my ($arch) = ($Config::Config{archname} // '') =~ /^(x86_64-linux|aarch64-linux)/;
    syscall($nr{$arch}, 1, 9) if $arch;   # prctl(PR_SET_PDEATHSIG, SIGKILL)
}

sub top_dir { return $TOP }

sub bin {
    my $b = $ENV{MEMCACHED_BIN};
    $b = File::Spec->catfile($TOP, 'memcached') unless defined $b && length $b;
    return $b;
}

sub is_reference {
    my $p = abs_path(bin());
    return defined $p && $p eq (abs_path('/usr/bin/memcached') // '/usr/bin/memcached');
}

sub is_tls { return $ENV{SSL_TEST} ? 1 : 0 }

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Proto => 'tcp', Listen => 1, ReuseAddr => 0)
        or croak "free_port: cannot bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# ---------------------------------------------------------------- certificates

my $CERT_DIR;

sub cert_dir {
    return $CERT_DIR if defined $CERT_DIR;
    my $dir = $ENV{MC_CERT_DIR};
    unless (defined $dir && length $dir) {
        # One directory per prove run (keyed by the prove process), so
        # parallel test files share one set of certificates.
        my $base = File::Spec->tmpdir;
        cleanup_stale_cert_dirs($base);
        $dir = File::Spec->catdir($base, "mctest-certs-$<-" . getppid());
    }
    mkdir $dir unless -d $dir;
    croak "cert_dir: cannot create $dir: $!" unless -d $dir;
    open(my $lock, '>', "$dir/.lock") or croak "cert_dir: lock: $!";
    flock($lock, LOCK_EX) or croak "cert_dir: flock: $!";
    # Redo the certificates if they came from the fallback generator and
    # t/gen-certs.sh exists now.
    my $done = -e "$dir/.complete" ? slurp("$dir/.complete") : '';
    my $have_script = -f File::Spec->catfile($TOP, 't', 'gen-certs.sh');
    if ($done eq '' || ($done =~ /fallback/ && $have_script)) {
        my $how = generate_certs($dir);
        open(my $m, '>', "$dir/.complete") or croak "cert_dir: $!";
        print $m "$how\n";
        close $m;
    }
    close $lock;
    $CERT_DIR = $dir;
    return $dir;
}

# Remove per-run certificate dirs whose prove process is gone.
sub cleanup_stale_cert_dirs {
    my ($base) = @_;
    opendir(my $dh, $base) or return;
    for my $e (readdir $dh) {
        next unless $e =~ /^mctest-certs-\Q$<\E-(\d+)$/;
        my $pid = $1;
        next if CORE::kill(0, $pid);
        my $d = File::Spec->catdir($base, $e);
        next if -M $d < 0.01;   # just made by a sibling; leave it alone
        remove_tree($d);
    }
    closedir $dh;
}

sub generate_certs {
    my ($dir) = @_;
    my $script = File::Spec->catfile($TOP, 't', 'gen-certs.sh');
    if (-f $script) {
        my $rc = run_quiet(["sh", $script, $dir], "$dir/gen-certs.log");
        croak "gen-certs.sh failed (rc $rc), see $dir/gen-certs.log" if $rc;
        return 'gen-certs.sh';
    }
    # Fallback until t/gen-certs.sh exists: a self-signed server cert.
    my $rc = run_quiet(['openssl', 'req', '-x509', '-newkey', 'ec',
        '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
        '-subj', '/CN=localhost', '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', "$dir/server_key.pem", '-out', "$dir/server_crt.pem"],
        "$dir/gen-certs.log");
    croak "openssl failed (rc $rc), see $dir/gen-certs.log" if $rc;
    return 'fallback';
}

# Run a command (list, no shell) with output to a file; returns exit status.
sub run_quiet {
    my ($argv, $log) = @_;
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $log) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        exec { $argv->[0] } @$argv;
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $? >> 8;
}

# Run the server binary with exactly @args (nothing added), collect
# stdout+stderr, kill it after $timeout seconds. Returns (exit_code, output,
# signal). exit_code is undef if it had to be killed.
sub run_bin {
    my ($args, $timeout) = @_;
    $timeout //= 5;
    my $dir = tempdir('mctest-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $log = "$dir/out.log";
    my $b = bin();
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $log) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        die_with_parent();
        exec { $b } $b, @$args;
        POSIX::_exit(127);
    }
    my $deadline = time + $timeout;
    my ($code, $sig);
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $code = WIFEXITED($?) ? WEXITSTATUS($?) : undef;
            $sig = WIFSIGNALED($?) ? WTERMSIG($?) : 0;
            last;
        }
        if (time > $deadline) {
            CORE::kill 'KILL', $pid;
            waitpid($pid, 0);
            $sig = 'timeout';
            last;
        }
        sleep 0.02;
    }
    my $out = slurp($log);
    return ($code, $out, $sig);
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return '';
    local $/;
    my $d = <$fh>;
    close $fh;
    return $d // '';
}

# ---------------------------------------------------------------- servers

sub tls_args {
    my $d = cert_dir();
    return ('-Z', '-o', "ssl_chain_cert=$d/server_crt.pem,ssl_key=$d/server_key.pem");
}

sub new_server {
    my ($args, $opts) = @_;
    $args //= '';
    $opts //= {};
    my $tls = exists $opts->{tls} ? ($opts->{tls} ? 1 : 0) : is_tls();
    my $last_err = '';
    for my $attempt (1 .. 5) {
        my $self = bless {
            args => $args, opts => $opts, tls => $tls, host => '127.0.0.1',
            owner => $$,
        }, __PACKAGE__;
        my $r = $self->try_start();
        if ($r eq 'ok') {
            push @LIVE, $self;
            weaken($LIVE[-1]);
            return $self;
        }
        $last_err = $r;
        last unless $r =~ /in use|retry/i;
    }
    $KEEP_LOGS = 1;
    croak "MCTest::new_server($args) failed: $last_err";
}

# Like new_server, but the server listens only on a UNIX socket in a temp dir.
sub new_unix_server {
    my ($args, $opts) = @_;
    $opts = { %{ $opts // {} }, unix => 1, tls => 0 };
    return new_server($args, $opts);
}

sub build_argv {
    my ($self) = @_;
    my @user = shellwords($self->{args});
    my @argv;
    my $has_l = grep { /^(-l|--listen)/ } @user;
    if ($self->{opts}{unix}) {
        $self->{unix_path} = "$self->{dir}/mc.sock";
        push @argv, '-s', $self->{unix_path};
    } else {
        $self->{port} = free_port();
        push @argv, '-p', $self->{port};
        if ($self->{tls} && !$self->{opts}{no_tls_args}) {
            # A second, plain listener lets TLS tests open plain sockets too.
            $self->{plain_port} = free_port();
            push @argv, '-l', "notls:127.0.0.1:$self->{plain_port},127.0.0.1:$self->{port}";
        } elsif (!$has_l) {
            push @argv, '-l', '127.0.0.1';
        }
    }
    push @argv, '-u', 'root' if $> == 0 && !grep { /^(-u|--user)/ } @user;
    push @argv, tls_args() if $self->{tls} && !$self->{opts}{no_tls_args};
    push @argv, @user;
    return @argv;
}

sub try_start {
    my ($self) = @_;
    $self->{dir} = tempdir('mctest-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    $self->{log} = "$self->{dir}/server.log";
    my @argv = $self->build_argv();
    $self->{argv} = \@argv;
    my $b = bin();
    croak "MEMCACHED_BIN $b is not executable" unless -x $b;
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $self->{log}) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        die_with_parent();
        exec { $b } $b, @argv;
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $deadline = time + $START_TIMEOUT;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            delete $self->{pid};
            my $log = slurp($self->{log});
            remove_tree($self->{dir}) if $log =~ /in use/i;
            return "exited early (status $?): $log";
        }
        return 'ok' if $self->probe();
        sleep 0.02;
    }
    CORE::kill('KILL', $pid);
    waitpid($pid, 0);
    delete $self->{pid};
    return "not accepting after ${START_TIMEOUT}s; log $self->{log}: " . slurp($self->{log});
}

# True once a listener accepts connections. Probes the plain port when there
# is one, so no half-open TLS handshakes show up in the server's stats.
sub probe {
    my ($self) = @_;
    my $s;
    if ($self->{unix_path}) {
        return 0 unless -S $self->{unix_path};
        $s = IO::Socket::UNIX->new(Peer => $self->{unix_path}, Type => SOCK_STREAM);
    } else {
        my $p = $self->{plain_port} // $self->{port};
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
            Proto => 'tcp', Timeout => 1);
    }
    return 0 unless $s;
    close $s;
    return 1;
}

sub port       { $_[0]{port} }
sub plain_port { $_[0]{plain_port} }
sub pid        { $_[0]{pid} }
sub host       { $_[0]{host} }
sub args       { $_[0]{args} }
sub argv       { @{ $_[0]{argv} } }
sub unix_path  { $_[0]{unix_path} }
sub log_path   { $_[0]{log} }
sub log_text   { slurp($_[0]{log}) }
sub tls        { $_[0]{tls} }

sub sock {
    my ($self) = @_;
    $self->{sock} //= $self->new_sock;
    return $self->{sock};
}

sub new_sock {
    my ($self) = @_;
    return $self->new_unix_sock if $self->{unix_path};
    return $self->{tls} ? $self->new_tls_sock : $self->new_plain_sock;
}

sub new_unix_sock {
    my ($self) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $self->{unix_path}, Type => SOCK_STREAM)
        or croak "connect $self->{unix_path}: $!";
    return $s;
}

# A plain socket: to the notls listener when the server runs TLS with our
# listeners, else to the main port.
sub new_plain_sock {
    my ($self, $port) = @_;
    $port //= $self->{plain_port} // $self->{port};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => $TIMEOUT)
        or croak "connect 127.0.0.1:$port: $!";
    $s->autoflush(1);
    return $s;
}

sub new_tls_sock {
    my ($self, %opts) = @_;
    require IO::Socket::SSL;
    my $port = delete $opts{port} // $self->{port};
    my $s = IO::Socket::SSL->new(
        PeerHost => '127.0.0.1', PeerPort => $port, Timeout => $TIMEOUT,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        SSL_hostname => '', %opts,
    ) or croak "TLS connect 127.0.0.1:$port: $! / "
        . ($IO::Socket::SSL::SSL_ERROR // '');
    return $s;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $self->{owner} == $$;
    delete $self->{sock};
    my $pid = delete $self->{pid};
    CORE::kill 'TERM', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    CORE::kill 'KILL', $pid;
    waitpid($pid, 0);
    return 1;
}

sub kill {
    my ($self, $sig) = @_;
    return 0 unless $self->{pid};
    return CORE::kill($sig, $self->{pid});
}

# Wait up to $timeout s for the server process to exit; returns $? or undef.
sub wait_exit {
    my ($self, $timeout) = @_;
    $timeout //= 5;
    return undef unless $self->{pid};
    my $deadline = time + $timeout;
    while (time < $deadline) {
        if (waitpid($self->{pid}, WNOHANG) == $self->{pid}) {
            delete $self->{pid};
            return $?;
        }
        sleep 0.02;
    }
    return undef;
}

sub is_running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return waitpid($self->{pid}, WNOHANG) == 0 ? 1 : 0;
}

sub cleanup_dir {
    my ($self) = @_;
    return unless $self->{dir} && -d $self->{dir};
    my $tb = Test::More->builder;
    if ($KEEP_LOGS || !$tb->is_passing) {
        Test::More::diag("server log kept: $self->{log} (args: @{$self->{argv} // []})")
        unless $self->{diag_done}++;
        return;
    }
    remove_tree($self->{dir});
}

# Servers that go out of scope get SIGTERM at once but are reaped at END,
# so a test does not wait for each one's shutdown (the reference checks its
# stop flag only once a second).
my @PENDING;

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    delete $self->{sock};
    if ($self->{pid}) {
        CORE::kill('TERM', $self->{pid});
        push @PENDING, { pid => delete $self->{pid}, dir => $self->{dir},
            log => $self->{log}, argv => $self->{argv} };
        return;
    }
    $self->cleanup_dir;
}

END {
    my $rc = $?;
    for my $s (@LIVE) {
        next unless $s;
        $s->stop;
        $s->cleanup_dir;
    }
    my $deadline = time + 5;
    for my $p (@PENDING) {
        while (waitpid($p->{pid}, WNOHANG) == 0) {
            if (time > $deadline) {
                CORE::kill('KILL', $p->{pid});
                waitpid($p->{pid}, 0);
                last;
            }
            sleep 0.02;
        }
        cleanup_dir($p);
    }
    $? = $rc;
}

# ---------------------------------------------------------------- I/O helpers
#
# Every primitive below switches the socket to non-blocking for the duration
# of the call and waits with select() against a deadline. A blocking read is
# not safe even after select() said "readable": over TLS the readable bytes
# may be a session ticket or a partial record, and SSL_read would then block.

sub is_ssl_sock { return ref($_[0]) && $_[0]->isa('IO::Socket::SSL') }

sub would_block {
    my ($sock) = @_;
    return 1 if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
    if (is_ssl_sock($sock)) {
        my $e = $IO::Socket::SSL::SSL_ERROR;
        return 1 if defined $e && ($e == IO::Socket::SSL::SSL_WANT_READ()
            || $e == IO::Socket::SSL::SSL_WANT_WRITE());
    }
    return 0;
}

sub wait_io {
    my ($sock, $deadline, $for_write) = @_;
    my $left = $deadline - time;
    return 0 if $left <= 0;
    my $sel = IO::Select->new($sock);
    if ($for_write) {
        $sel->can_write($left > 0.05 ? 0.05 : $left);
    } else {
        $sel->can_read($left > 0.05 ? 0.05 : $left);
    }
    return 1;
}

# One non-blocking attempt. Returns (status, data): status 'data', 'eof',
# 'again' or 'error'. $peek leaves the bytes in place.
sub try_read {
    my ($sock, $max, $peek) = @_;
    my $was = $sock->blocking(0);
    my ($buf, $n) = ('');
    local $!;
    if ($peek) {
        if (is_ssl_sock($sock)) {
            $n = $sock->peek($buf, $max);
        } else {
            $n = recv($sock, $buf, $max, MSG_PEEK);
            $n = defined $n ? length $buf : undef;
        }
    } else {
        $n = sysread($sock, $buf, $max);
    }
    my $wb = !defined $n && would_block($sock);
    $sock->blocking($was) if $was;
    return ('again', '') if $wb;
    return ('error', '') unless defined $n;
    return ('eof', '') if $n == 0;
    return ('data', $buf);
}

# Wait until some bytes can be read (or EOF); returns like try_read, or
# ('timeout', '') at the deadline.
sub read_some {
    my ($sock, $max, $deadline, $peek) = @_;
    while (1) {
        my ($st, $d) = try_read($sock, $max, $peek);
        return ($st, $d) unless $st eq 'again';
        my $e = is_ssl_sock($sock) ? $IO::Socket::SSL::SSL_ERROR : undef;
        my $w = defined $e && $e == IO::Socket::SSL::SSL_WANT_WRITE();
        return ('timeout', '') unless wait_io($sock, $deadline, $w);
    }
}

# True when $sock has data (or EOF) within $timeout, without consuming it.
sub wait_readable {
    my ($sock, $timeout) = @_;
    my ($st) = read_some($sock, 1, time + ($timeout // $TIMEOUT), 1);
    return $st eq 'timeout' ? 0 : 1;
}

# Write all of $data; true on success, false on error or timeout.
sub send_cmd {
    my ($sock, $data) = @_;
    my $off = 0;
    my $len = length $data;
    my $deadline = time + $TIMEOUT + $len / 1e6;
    my $was = $sock->blocking(0);
    my $ok = 1;
    while ($off < $len) {
        if (time > $deadline) { $ok = 0; last }
        my $chunk = $len - $off > 65536 ? 65536 : $len - $off;
        my $n = syswrite($sock, $data, $chunk, $off);
        if (!defined $n) {
            if (would_block($sock)) {
                my $e = is_ssl_sock($sock) ? $IO::Socket::SSL::SSL_ERROR : undef;
                my $r = defined $e && $e == IO::Socket::SSL::SSL_WANT_READ();
                wait_io($sock, $deadline, !$r);
                next;
            }
            $ok = 0;
            last;
        }
        $off += $n;
    }
    $sock->blocking($was) if $was;
    return $ok;
}

# One line including its "\n" (normally "\r\n"). undef on timeout/EOF; if
# the peer closed after a partial line, that partial data is returned.
sub read_line {
    my ($sock, $timeout) = @_;
    my $line = '';
    my $deadline = time + ($timeout // $TIMEOUT);
    while (1) {
        my ($st, $peek) = read_some($sock, 65536, $deadline, 1);
        return (length $line ? $line : undef) unless $st eq 'data';
        my $i = index($peek, "\n");
        my $want = $i >= 0 ? $i + 1 : length $peek;
        my $got = read_bytes($sock, $want, $deadline - time);
        return (length $line ? $line : undef) unless defined $got;
        $line .= $got;
        return $line if $i >= 0;
    }
}

# Exactly $n bytes (undef on timeout/EOF before that; partial data is lost).
sub read_bytes {
    my ($sock, $n, $timeout) = @_;
    my $out = '';
    my $deadline = time + ($timeout // ($TIMEOUT + $n / 1e6));
    while (length $out < $n) {
        my ($st, $d) = read_some($sock, $n - length $out, $deadline);
        return undef unless $st eq 'data';
        $out .= $d;
    }
    return $out;
}

# Everything that arrives until the peer closes or stays quiet for $quiet
# seconds (default 0.3). Useful to assert "no reply" (returns '').
sub read_all {
    my ($sock, $quiet) = @_;
    $quiet //= 0.3;
    my $out = '';
    while (1) {
        my ($st, $d) = read_some($sock, 65536, time + $quiet);
        last unless $st eq 'data';
        $out .= $d;
    }
    return $out;
}

# True if the peer closes the connection (EOF or reset) within $timeout.
# Pending reply bytes are skipped over.
sub is_closed {
    my ($sock, $timeout) = @_;
    my $deadline = time + ($timeout // $TIMEOUT);
    while (1) {
        my ($st) = read_some($sock, 65536, $deadline);
        return 1 if $st eq 'eof' || $st eq 'error';
        return 0 if $st eq 'timeout';
    }
}

# Read lines until one equals "END\r\n" (inclusive) or another terminal
# line (ERROR/CLIENT_ERROR/SERVER_ERROR). Value payloads are handled.
sub read_reply_until_end {
    my ($sock, $timeout) = @_;
    my $out = '';
    while (1) {
        my $l = read_line($sock, $timeout);
        return undef unless defined $l;
        $out .= $l;
        last if $l eq "END\r\n" || $l =~ /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/;
        if ($l =~ /^VALUE \S+ \d+ (\d+)/) {
            my $d = read_bytes($sock, $1 + 2, $timeout);
            return undef unless defined $d;
            $out .= $d;
        }
    }
    return $out;
}

# Send a command and return the first reply line.
sub cmd_line {
    my ($sock, $cmd) = @_;
    send_cmd($sock, $cmd) or return undef;
    return read_line($sock);
}

# Send $raw and return the next $n reply lines concatenated (undef if they
# do not all arrive within the timeout).
sub cmd_lines {
    my ($sock, $raw, $n) = @_;
    send_cmd($sock, $raw) or return undef;
    my $out = '';
    for (1 .. $n) {
        my $l = read_line($sock);
        return undef unless defined $l;
        $out .= $l;
    }
    return $out;
}

# Send $raw, then "version\r\n" in a separate write, and return everything
# that arrived before the VERSION line: '' proves that $raw produced no
# reply at all. undef if the VERSION line never arrives (hang, or closed).
# (Separate writes: over TLS the reference leaves bytes that share a TLS
# record with the end of a large value unprocessed until more data comes.)
sub sync_reply {
    my ($sock, $raw) = @_;
    if (defined $raw && length $raw) {
        send_cmd($sock, $raw) or return undef;
    }
    send_cmd($sock, "version\r\n") or return undef;
    my $out = '';
    while (1) {
        my $l = read_line($sock);
        return undef unless defined $l;
        return $out if $l =~ /^VERSION \S+\r\n\z/;
        $out .= $l;
    }
}

# Store helper: "set key flags exp len\r\ndata\r\n" and return reply line.
sub mem_set {
    my ($sock, $key, $val, $flags, $exp) = @_;
    $flags //= 0;
    $exp //= 0;
    return cmd_line($sock, "set $key $flags $exp " . length($val) . "\r\n$val\r\n");
}

# Parse a "get"/"gets" reply: returns arrayref of [key, flags, data, cas].
sub read_values {
    my ($sock) = @_;
    my @v;
    while (1) {
        my $l = read_line($sock);
        return undef unless defined $l;
        last if $l eq "END\r\n";
        return undef unless $l =~ /^VALUE (\S+) (\d+) (\d+)(?: (\d+))?\r\n$/;
        my ($k, $f, $n, $c) = ($1, $2, $3, $4);
        my $d = read_bytes($sock, $n + 2);
        return undef unless defined $d && substr($d, -2) eq "\r\n";
        push @v, [$k, $f, substr($d, 0, $n), $c];
    }
    return \@v;
}

# get $key and compare the value (undef = expect a miss). $expected may be
# an arrayref [value, flags] to also check the flags.
sub mem_get_is {
    my ($sock, $key, $expected, $msg) = @_;
    $msg //= "get $key";
    my $tb = Test::More->builder;
    my ($want, $want_flags) = ref $expected eq 'ARRAY' ? @$expected : ($expected);
    send_cmd($sock, "get $key\r\n");
    my $got = read_values($sock);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    unless (defined $got) {
        Test::More::fail($msg);
        Test::More::diag("bad or no reply to get $key");
        return 0;
    }
    if (!defined $want) {
        return Test::More::is(scalar(@$got), 0, $msg);
    }
    if (@$got != 1 || $got->[0][0] ne $key) {
        Test::More::fail($msg);
        Test::More::diag("expected one VALUE for $key, got " . scalar(@$got));
        return 0;
    }
    if (defined $want_flags && $got->[0][1] ne $want_flags) {
        Test::More::fail($msg);
        Test::More::diag("flags: got $got->[0][1], expected $want_flags");
        return 0;
    }
    return Test::More::is($got->[0][2], $want, $msg);
}

# gets $key -> ($cas, $value), or () on a miss.
sub mem_gets {
    my ($sock, $key) = @_;
    send_cmd($sock, "gets $key\r\n");
    my $v = read_values($sock);
    return () unless $v && @$v;
    return ($v->[0][3], $v->[0][2]);
}

# "stats [sub]" -> hashref name => value. Keeps the order in $h->{'-order'}
# only if asked for via mem_stats_list.
sub mem_stats {
    my ($sock, $sub) = @_;
    my $list = mem_stats_list($sock, $sub);
    return undef unless $list;
    return { map { @$_ } @$list };
}

# "stats [sub]" -> arrayref of [name, value] in server order; undef on error.
sub mem_stats_list {
    my ($sock, $sub) = @_;
    send_cmd($sock, defined $sub && length $sub ? "stats $sub\r\n" : "stats\r\n");
    my @out;
    while (1) {
        my $l = read_line($sock);
        return undef unless defined $l;
        last if $l eq "END\r\n";
        return undef unless $l =~ /^STAT (\S+)(?: (.*))?\r\n$/;
        push @out, [$1, $2 // ''];
    }
    return \@out;
}

# Poll a stat until $check->($value) is true or $timeout passes; returns the
# last value seen (check it with is/ok afterwards).
sub wait_for_stat {
    my ($sock, $sub, $name, $check, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $v;
    while (1) {
        my $st = mem_stats($sock, $sub);
        $v = $st ? $st->{$name} : undef;
        return $v if defined $v && $check->($v);
        return $v if time > $deadline;
        sleep 0.05;
    }
}

1;
