#!/usr/bin/perl
# The command line: -h lists every memcached option, -V prints the version,
# bad options and bad values make the server exit non-zero with a message,
# and running as root requires -u.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;

# Options printed by memcached 1.6.18's -h: short letter, long name.
my @OPTS = (
    [p => 'port'], [U => 'udp-port'], [s => 'unix-socket'], [a => 'unix-mask'], [A => 'enable-shutdown'],
    [l => 'listen'], [d => 'daemon'], [r => 'enable-coredumps'], [u => 'user'], [m => 'memory-limit'],
    [M => 'disable-evictions'], [c => 'conn-limit'], [k => 'lock-memory'], [v => 'verbose'], [h => 'help'],
    [i => 'license'], [V => 'version'], [P => 'pidfile'], [f => 'slab-growth-factor'], [n => 'slab-min-size'],
    [L => 'enable-largepages'], [D => undef], [t => 'threads'], [R => 'max-reqs-per-event'],
    [C => 'disable-cas'], [b => 'listen-backlog'], [B => 'protocol'], [I => 'max-item-size'],
    [S => 'enable-sasl'], [F => 'disable-flush-all'], [X => 'disable-dumping'], [W => 'disable-watch'],
    [Y => 'auth-file'], [e => 'memory-file'], [Z => 'enable-ssl'], [o => 'extended'], [N => 'napi_ids'],
);
# -o suboptions listed there.
my @SUBOPTS = qw(
    maxconns_fast hashpower tail_repair_time hash_algorithm no_lru_crawler lru_crawler_sleep
    lru_crawler_tocrawl read_buf_mem_limit no_lru_maintainer hot_lru_pct warm_lru_pct hot_max_factor
    warm_max_factor temporary_ttl idle_timeout slab_chunk_max watcher_logbuf_size worker_logbuf_size
    track_sizes no_hashexpand modern no_modern sock_cookie_id slab_automove_freeratio
    ssl_chain_cert ssl_key ssl_keyformat ssl_verify_mode ssl_ciphers ssl_ca_cert ssl_wbuf_size
    ssl_session_cache ssl_kernel_tls ssl_min_version
);
my @EXT_SUBOPTS = qw(
    ext_path ext_page_size ext_wbuf_size ext_threads ext_item_size ext_item_age ext_low_ttl
    ext_drop_unread ext_recache_rate ext_compact_under ext_drop_under ext_max_frag ext_max_sleep
);

my @user = $> == 0 ? ('-u', 'root') : ();
sub listen_args { return ('-l', '127.0.0.1', '-p', MCTest::free_port(), @user) }

# ---- -h
{
    my ($rc, $out) = MCTest::run_bin(['-h']);
    is($rc, 0, '-h exits 0');
    like($out, qr/\Amemcached \d+\.\d+\.\d+\S*\n/, '-h starts with the version line');
    # The reference documents each option on its own line. Ours may instead
    # group options it accepts without effect, and name the ones it refuses
    # in a "not supported" note: a grep of -h finds every name either way.
    my $ref = MCTest::is_reference();
    my $named = sub {
        my ($re) = @_;
        return $out =~ $re || (!$ref && $out =~ /^not supported.*(?:\n\s+.*)*/m && $& =~ $re);
    };
    my @missing;
    for my $o (@OPTS) {
        my ($short, $long) = @$o;
        next if !$ref && $short eq 'N';   # NAPI ids: a Linux busy-poll feature we do not have
        push @missing, "-$short" unless $named->(qr/(?:^|[\s;,])-\Q$short\E[, ]/m);
        push @missing, "--$long" if defined $long && !$named->(qr/--\Q$long\E\b/);
    }
    is_deeply(\@missing, [], '-h lists every short and long option');
    my @msub = grep { my $n = $_; !$named->(qr/^\s+- \Q$n\E:/m) && ($ref || $out !~ /\b\Q$n\E\b/) }
        grep { $ref || $_ ne 'sock_cookie_id' } @SUBOPTS;
    is_deeply(\@msub, [], '-h lists every -o suboption');
    # extstore options only for a server that reports ext_* settings.
    my $srv = MCTest::new_server('', { tls => 0 });
    if (exists MCTest::mem_stats($srv->sock, 'settings')->{ext_item_size}) {
        my @mext = grep { my $n = $_; $out !~ /^\s+- \Q$n\E:/m && ($ref || $out !~ /\bext_\*/) }
            @EXT_SUBOPTS;
        is_deeply(\@mext, [], '-h lists the ext_* suboptions (server reports ext_* settings)');
    }
    if (!$ref) {
        for my $bad (['-S'], ['-Y', '/dev/null'], ['-o', 'ext_path=/tmp/x:64m']) {
            my ($rc) = MCTest::run_bin([@$bad, '-l', '127.0.0.1', '-p', MCTest::free_port(), @user]);
            isnt($rc, 0, "ours refuses @$bad (not supported) at startup");
        }
    }
    my ($rc2, $out2) = MCTest::run_bin(['--help']);
    is($rc2, 0, '--help exits 0');
    is($out2, $out, '--help prints the same as -h');
}

# ---- -V, -i
{
    my ($rc, $out) = MCTest::run_bin(['-V']);
    is($rc, 0, '-V exits 0');
    like($out, qr/\Amemcached \d+\.\d+\.\d+\S*\n\z/, '-V prints exactly one version line');
    is($out, "memcached 1.6.18\n", 'reference version line') if MCTest::is_reference();
    my ($rc2, $out2) = MCTest::run_bin(['--version']);
    is($out2, $out, '--version is the same');
    my $srv = MCTest::new_server('', { tls => 0 });
    my ($ver) = $out =~ /^memcached (\S+)/;
    is(MCTest::mem_stats($srv->sock)->{version}, $ver, '-V agrees with STAT version');
    my ($rc3, $out3) = MCTest::run_bin(['-i']);
    is($rc3, 0, '-i exits 0');
    like($out3, qr/copyright|licen[sc]e/i, '-i prints license information');
}

# ---- bad options: exit non-zero, say something, never start serving
sub refused {
    my ($args, $re, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out, $sig) = MCTest::run_bin([listen_args(), @$args], 5);
    ok(defined $sig && $sig ne 'timeout', "$name: exits") or return;
    ok(!defined $rc || $rc != 0, "$name: non-zero status") or diag("output: $out");
    like($out, $re, "$name: message") if $re;
}

refused(['--bogus'], qr/bogus/, 'unknown long option');
refused(['-q'], qr/q/, 'unknown short option');
refused(['-o', 'bogus_option'], qr/bogus_option/, 'unknown -o suboption');
refused(['-o', 'hot_lru_pct=abc'], qr/hot_lru_pct/, 'malformed -o hot_lru_pct');
refused(['-o', 'hot_lru_pct=90'], qr/hot_lru_pct/, 'out of range -o hot_lru_pct');
refused(['-o', 'hashpower=abc'], qr/\S/, 'malformed -o hashpower');
refused(['-o', 'ssl_verify_mode=9'], qr/ssl_verify_mode/, 'bad ssl_verify_mode');
refused(['-o', 'slab_chunk_max=abc'], undef, 'malformed -o slab_chunk_max');
refused(['-t', '0'], qr/threads/i, '-t 0');
refused(['-c', 'abc'], qr/connections/i, '-c non-numeric');
refused(['-f', '0.5'], qr/actor/, '-f below 1');
refused(['-n', '0'], qr/size/i, '-n 0');
refused(['-R', '0'], qr/requests/i, '-R 0');
refused(['-B', 'foo'], qr/foo/, '-B unknown protocol');
refused(['-I', '1500k'], qr/divisible|slab_chunk_max/, '-I not a multiple of slab_chunk_max');
refused(['-I', '512'], qr/1024/, '-I below 1k');
refused(['-m', '1'], qr/item size/i, '-m too small for -I');
refused(['-u', 'no_such_user_mctest'], qr/no_such_user_mctest/, '-u unknown user') if $> == 0;

is_deeply([(MCTest::run_bin([listen_args(), '-o', 'hot_lru_pct=abc']))[1]],
    ["hot_lru_pct must be > 1 and < 80\n"], 'reference message for a bad hot_lru_pct') if MCTest::is_reference();
is((MCTest::run_bin([listen_args(), '-t', '0']))[1], "Number of threads must be greater than 0\n",
    'reference message for -t 0') if MCTest::is_reference();

# ---- accepted forms
{
    my $srv = MCTest::new_server('-U 0', { tls => 0 });
    is(MCTest::mem_stats($srv->sock, 'settings')->{udpport}, 0, '-U 0 accepted, udpport 0');
    my $l = MCTest::new_server('--memory-limit=32 --conn-limit=100 --threads=2', { tls => 0 });
    my $st = MCTest::mem_stats($l->sock, 'settings');
    is_deeply([@$st{qw(maxbytes maxconns num_threads)}], [32 * 1048576, 100, 2], 'long options with =value');
    my $o = MCTest::new_server('-o idle_timeout=5 -o hot_lru_pct=10', { tls => 0 });
    my $so = MCTest::mem_stats($o->sock, 'settings');
    is_deeply([@$so{qw(idle_timeout hot_lru_pct)}], [5, 10], 'repeated -o accumulate');
    # A deprecated suboption still starts the server, with memcached's note.
    my $d = MCTest::new_server('-o resp_obj_mem_limit=1', { tls => 0 });
    is(MCTest::cmd_line($d->sock, "version\r\n"), "VERSION 1.6.18\r\n", '-o resp_obj_mem_limit=1 starts');
    like($d->log_text, qr/^DEPRECATED: resp_obj_mem_limit no longer used\. See read_buf_mem_limit,$/m,
        'and says it is deprecated');
}

# ---- root needs -u
SKIP: {
    skip 'not running as root', 3 unless $> == 0;
    my ($rc, $out, $sig) = MCTest::run_bin(['-l', '127.0.0.1', '-p', MCTest::free_port()], 5);
    ok(defined $sig && $sig ne 'timeout', 'as root without -u: exits');
    ok(defined $rc && $rc != 0, 'with a non-zero status');
    like($out, qr/-u/, 'and a message about -u');
}

# -p -1 binds a port the kernel picks; MEMCACHED_PORT_FILENAME names a file
# where the server writes "TCP INET: <port>" once it listens (memcached's own
# test suite starts servers this way).
{
    require IO::Socket::INET;
    my $dir = File::Temp::tempdir('mctest-pf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $file = "$dir/ports";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        $ENV{MEMCACHED_PORT_FILENAME} = $file;
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec { MCTest::bin() } MCTest::bin(), '-p', '-1', '-U', '0', '-l', '127.0.0.1', @user;
        POSIX::_exit(127);
    }
    my $deadline = time + 5;
    select(undef, undef, undef, 0.05) while !-e $file && time < $deadline;
    my $text = -e $file ? MCTest::slurp($file) : '';
    like($text, qr/\ATCP INET: \d+\n\z/, 'MEMCACHED_PORT_FILENAME: one TCP INET line');
    my ($port) = $text =~ /(\d+)/;
    ok(!-e "$file.lck", 'written under a temporary name, then renamed');
    my $c = $port ? IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 3) : undef;
    ok($c, "-p -1: the server listens on the reported port ($text)");
    is(MCTest::cmd_line($c, "version\r\n"), "VERSION 1.6.18\r\n", 'and answers there') if $c;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

done_testing();
