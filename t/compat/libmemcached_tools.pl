#!/usr/bin/perl
# Runs the libmemcached command-line tools (Debian libmemcached-tools, names
# prefixed "memc") against one fresh server and prints a transcript: exit
# codes, checksums of fetched files and normalised output. t/compat_clients.t
# compares it with t/compat/libmemcached_tools.expected, recorded against
# memcached 1.6.18. memccapable -a is libmemcached's own text-protocol
# conformance suite; the load tools run for a bounded count only.
#
# Usage: libmemcached_tools.pl HOST PORT
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);

my ($host, $port) = @ARGV;
die "usage: $0 HOST PORT\n" unless defined $port;
$| = 1;
my $S = "--servers=$host:$port";
my $dir = tempdir('compat-memc-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Runs a tool with a time limit; returns (exit code, stdout+stderr).
sub run {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        exec { 'timeout' } 'timeout', '20', @cmd;
        exit 127;
    }
    local $/;
    my $o = <$fh> // '';
    close $fh;
    return ($? >> 8, $o);
}

sub rc { my ($name, @cmd) = @_; my ($rc) = run(@cmd); print "$name => rc $rc\n"; }

sub write_file {
    my ($name, $data) = @_;
    open(my $f, '>:raw', "$dir/$name") or die "$name: $!";
    print $f $data;
    close $f;
    return "$dir/$name";
}

my $text = write_file('small.txt', "hello from memccp\n");
my $bin = write_file('binary.dat', join('', map { chr(($_ * 31 + 7) & 0xff) } 0 .. 99_999));
my $near = write_file('near1m.dat', 'q' x (1000 * 1000));
my $huge = write_file('huge.dat', 'h' x (2 * 1024 * 1024));

rc('memcping', 'memcping', $S);
rc('memccp small', 'memccp', $S, $text);
rc('memccp binary flags expire', 'memccp', $S, '--flags=123', '--expire=1000', $bin);
rc('memccp near 1MB', 'memccp', $S, $near);
rc('memccp 2MB (too large)', 'memccp', $S, $huge);
rc('memccp --add existing', 'memccp', $S, '--add', $text);
rc('memccp --replace missing', 'memccp', $S, '--replace', write_file('nothere', 'x'));
rc('memccp --non-blocking --tcp-nodelay', 'memccp', $S, '-n', '-N', write_file('nb.txt', "nb\n"));

for my $k ('small.txt', 'binary.dat', 'near1m.dat', 'nb.txt') {
    my ($rc, $o) = run('memccat', $S, $k);
    print "memccat $k => rc $rc len ", length($o), ' md5 ', md5_hex($o), "\n";
}
my ($rc, $o) = run('memccat', $S, '--flags', 'binary.dat');
print "memccat --flags => rc $rc flags line ", ($o =~ /^(\d+)$/m ? $1 : 'none'), "\n";
($rc, $o) = run('memccat', $S, 'huge.dat');
print "memccat missing => rc $rc\n";
($rc, $o) = run('memccat', $S, "--file=$dir/out.bin", 'binary.dat');
print "memccat --file => rc $rc same ", (-s "$dir/out.bin" // 0) == 100_000 ? 1 : 0, "\n";

rc('memcexist hit', 'memcexist', $S, 'small.txt');
rc('memcexist miss', 'memcexist', $S, 'nothere');
rc('memctouch hit', 'memctouch', $S, '--expire=500', 'small.txt');
rc('memctouch miss', 'memctouch', $S, '--expire=500', 'nothere');
rc('memcrm hit', 'memcrm', $S, 'nb.txt');
rc('memcrm miss', 'memcrm', $S, 'nb.txt');
rc('memcexist removed', 'memcexist', $S, 'nb.txt');

($rc, $o) = run('memcstat', $S);
my %st = $o =~ /^\s+(\w+): (.*)$/mg;
print "memcstat => rc $rc server line ", ($o =~ /^Server: \Q$host\E \($port\)$/m ? 1 : 0), "\n";
print "memcstat has $_ => ", (exists $st{$_} ? 1 : 0), "\n"
    for qw(pid uptime version curr_items total_items bytes curr_connections
           cmd_get cmd_set get_hits get_misses evictions limit_maxbytes threads);
print "memcstat version => $st{version}\n";
($rc, $o) = run('memcstat', $S, '--server-version');
$o =~ s/^\Q$host:$port\E /HOST:PORT /mg;
print "memcstat --server-version => rc $rc $o";
($rc, $o) = run('memcstat', $S, '--args=settings');
print "memcstat --args=settings => rc $rc item_size_max ",
    ($o =~ /item_size_max: (\d+)/ ? $1 : 'none'), "\n";
($rc, $o) = run('memcstat', $S, '--analyze');
print "memcstat --analyze => rc $rc servers ",
    ($o =~ /Number of Servers Analyzed\s*: (\d+)/ ? $1 : 'none'), "\n";

rc('memcflush', 'memcflush', $S);
rc('memcexist after flush', 'memcexist', $S, 'small.txt');
rc('memcflush --expire', 'memcflush', $S, '--expire=100');

# Conformance suite of the text protocol (flushes the server).
($rc, $o) = run('memccapable', '-h', $host, '-p', $port, '-a', '-t', '2');
print "memccapable -a => rc $rc\n";
print "  $1 => $2\n" while $o =~ /^(ascii [\w ]+?)\s+\[(\w+)\]/mg;

# Load generators, bounded by count.
($rc, $o) = run('memcslap', $S, '--concurrency=2', '--execute-number=500',
    '--test=set', '--flush');
print "memcslap set => rc $rc\n";
($rc, $o) = run('memcslap', $S, '--concurrency=2', '--execute-number=500',
    '--initial-load=200', '--test=get');
print "memcslap get => rc $rc\n";
($rc, $o) = run('memcslap', $S, '--concurrency=2', '--execute-number=300',
    '--test=mget');
print "memcslap mget => rc $rc\n";
($rc, $o) = run('memcslap', $S, '--concurrency=2', '--execute-number=300',
    '--test=set', '--noreply');
print "memcslap set noreply => rc $rc\n";
($rc, $o) = run('memcaslap', "--servers=$host:$port", '--threads=1',
    '--concurrency=4', '--execute_number=2000', '--verify=0.1');
print "memcaslap => rc $rc ran ", ($o =~ /Run time:/ ? 1 : 0), "\n";
for my $k (qw(cmd_get cmd_set get_misses verify_misses verify_failed)) {
    print "memcaslap $k => ", ($o =~ /^$k: (\d+)$/m ? $1 : 'none'), "\n";
}
print "done\n";
