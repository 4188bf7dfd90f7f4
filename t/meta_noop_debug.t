#!/usr/bin/perl
# Meta no-op (mn), meta debug (me), unknown m-commands, quiet pipelines across
# all meta commands, and meta/classic interplay on one connection (1.6.18).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MCTest;

# ---- shared by t/meta*.t (kept inline so each file stands alone) ----
use Time::HiRes qw(time);

# Show control bytes and cut long strings so a failure prints something readable.
sub esc {
    my $s = shift;
    return 'undef' unless defined $s;
    my $len = length $s;
    $s = substr($s, 0, 150) . '...' . substr($s, -60) . " ($len bytes)" if $len > 240;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/([^\x20-\x7e\\])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# Byte-exact comparison; the diagnostic is shortened, the comparison never is.
sub bytes_is {
    my ($got, $want, $name) = @_;
    return pass($name) if defined $got && $got eq $want;
    fail($name);
    diag("     got: " . esc($got) . "\nexpected: " . esc($want));
    return 0;
}

sub send_all { MCTest::send_cmd($_[0], $_[1]) or die "send failed: $!" }

# Read until $done->($buf) is true; give up after $timeout seconds so a hang fails.
sub read_until {
    my ($s, $done, $timeout) = @_;
    my ($buf, $deadline) = ('', time + ($timeout // 3));
    until ($done->($buf)) {
        my $left = $deadline - time;
        last if $left <= 0 || !MCTest::wait_readable($s, $left);
        my $n = sysread($s, my $chunk, 1 << 20);
        last unless $n;
        $buf .= $chunk;
    }
    return $buf;
}

# Send $cmd followed by "mn": the reply must be exactly $want then "MN\r\n".
# The trailing mn proves suppressed (quiet) replies really were not sent.
sub mc_is {
    my ($s, $cmd, $want, $name) = @_;
    send_all($s, $cmd . "mn\r\n");
    my $full = $want . "MN\r\n";
    bytes_is(read_until($s, sub { length($_[0]) >= length($full) && $_[0] =~ /MN\r\n\z/ }),
             $full, $name);
}

# Send raw bytes and read exactly length($want) bytes (no mn sync).
sub raw_is {
    my ($s, $cmd, $want, $name) = @_;
    send_all($s, $cmd);
    bytes_is(read_until($s, sub { length($_[0]) >= length($want) }), $want, $name);
}

# Send $cmd + mn and return the reply without the trailing MN (for values we must parse).
sub mc_reply {
    my ($s, $cmd) = @_;
    send_all($s, $cmd . "mn\r\n");
    my $got = read_until($s, sub { $_[0] =~ /MN\r\n\z/ });
    $got =~ s/MN\r\n\z//;
    return $got;
}

# CAS of a key via mg (undef on miss).
sub cas_of {
    my ($s, $key) = @_;
    my $r = mc_reply($s, "mg $key c\r\n");
    return $r =~ /^HD c(\d+)/ ? $1 : undef;
}
# ---- end shared ----

my $srv = MCTest::new_server();
my $s   = $srv->sock;

# --- mn ---
raw_is($s, "mn\r\n", "MN\r\n", "mn");
raw_is($s, "mn foo bar\r\n", "MN\r\n", "mn ignores arguments");
raw_is($s, "mn\n", "MN\r\n", "mn with a bare LF");
raw_is($s, "mn\r\nmn\r\nmn\r\n", "MN\r\nMN\r\nMN\r\n", "pipelined mn");

# --- only exact two-letter m-commands are meta ---
mc_is($s, "mx foo\r\n", "ERROR\r\n", "unknown meta command");
mc_is($s, "mgg foo\r\n", "ERROR\r\n", "three letters");
mc_is($s, "MG foo\r\n", "ERROR\r\n", "upper case");
mc_is($s, "m\r\n", "ERROR\r\n", "one letter");
mc_is($s, "mg\r\n", "ERROR\r\n", "mg alone");
mc_is($s, "MN\r\n", "ERROR\r\n", "MN is a reply, not a command");

# --- me ---
mc_is($s, "me\r\n", "CLIENT_ERROR bad command line format\r\n", "me without key");
mc_is($s, "me miss\r\n", "EN\r\n", "me miss");
mc_is($s, "ms foo 2\r\nhi\r\n", "HD\r\n", "store foo");
my $cas = cas_of($s, 'foo');    # mg counts as a fetch
my $re = qr/^ME foo exp=-1 la=[01] cas=$cas fetch=yes cls=\d+ size=\d+\r\n\z/;
like(mc_reply($s, "me foo\r\n"), $re, "me line format");
like(mc_reply($s, "me foo x y\r\n"), $re, "extra tokens are ignored");
like(mc_reply($s, "me foo bb\r\n"), $re, "only a lone b means base64");
like(mc_reply($s, "me Zm9v b\r\n"), $re, "me with a base64 key");
mc_is($s, "me Zm9v\r\n", "EN\r\n", "without b the base64 text is another key");
mc_is($s, "me foo b\r\n", "CLIENT_ERROR bad command line format\r\n", "b with an invalid base64 key");
mc_is($s, "me " . ('k' x 251) . "\r\n", "CLIENT_ERROR bad command line format\r\n", "251-byte key");
mc_is($s, "me " . ('k' x 250) . "\r\n", "EN\r\n", "250-byte key");

mc_is($s, "ms fr 1 T100\r\nx\r\n", "HD\r\n", "store fr with TTL");
my $r = mc_reply($s, "me fr\r\n");
like($r, qr/^ME fr exp=-(99|100) la=[01] cas=\d+ fetch=no cls=\d+ size=\d+\r\n\z/,
     "exp is negative remaining seconds; not fetched yet");
like(mc_reply($s, "me fr\r\n"), qr/fetch=no/, "me is not a fetch");
mc_is($s, "mg fr u\r\n", "HD\r\n", "mg with u");
like(mc_reply($s, "me fr\r\n"), qr/fetch=no/, "u is not a fetch");
mc_is($s, "mg fr\r\n", "HD\r\n", "mg");
like(mc_reply($s, "me fr\r\n"), qr/fetch=yes/, "now fetched");

my ($size1) = mc_reply($s, "me fr\r\n") =~ /size=(\d+)/;
mc_is($s, "ms fr 11\r\nxxxxxxxxxxx\r\n", "HD\r\n", "store a longer value");
my ($size2) = mc_reply($s, "me fr\r\n") =~ /size=(\d+)/;
ok($size2 >= $size1 + 10, "size grows with the value ($size1 -> $size2)");

# The reference's item size counts 4 bytes of client flags only when they are not 0.
mc_is($s, "ms sz 1 F0\r\nx\r\n", "HD\r\n", "store with flags 0");
my ($sz0) = mc_reply($s, "me sz\r\n") =~ /size=(\d+)/;
mc_is($s, "ms sz 1 F1\r\nx\r\n", "HD\r\n", "store with flags 1");
my ($sz1) = mc_reply($s, "me sz\r\n") =~ /size=(\d+)/;
is($sz1, $sz0 + 4, "non-zero client flags add 4 bytes ($sz0 -> $sz1)");

mc_is($s, "ms YmluYXJ5 3 b\r\nabc\r\n", "HD\r\n", "store binary key");
like(mc_reply($s, "me YmluYXJ5 b\r\n"), qr/^ME YmluYXJ5 exp=-1 la=[01] cas=\d+ fetch=no cls=\d+ size=\d+\r\n\z/,
     "binary keys are printed in base64");
like(mc_reply($s, "me binary\r\n"), qr/^ME YmluYXJ5 exp=-1 /, "even when looked up by raw key");

# --- quiet pipeline across every meta command; mn marks the end ---
mc_is($s,
      "ms p1 1 q\r\na\r\n"      # HD hidden
    . "ms p1 1 q ME\r\nb\r\n"   # NS shown
    . "mg p1 q v\r\n"           # hit shown
    . "mg p2 q v\r\n"           # miss hidden
    . "ma p3 q N0 J9\r\n"       # create shown
    . "ma p3 q\r\n"             # incr hidden
    . "ma p4 q\r\n"             # NF shown
    . "md p1 q\r\n"             # HD hidden
    . "md p1 q\r\n"             # NF shown
    . "mg p3 q v\r\n"           # hit shown
    . "mg p1 q x\r\n",          # errors always shown
    "NS\r\nVA 1\r\na\r\nHD\r\nNF\r\nNF\r\nVA 2\r\n10\r\nCLIENT_ERROR invalid flag\r\n",
    "quiet pipeline");

# Many quiet misses, one reply for the whole batch.
my $batch = join '', map { "mg nokey$_ q v O$_\r\n" } 1 .. 200;
mc_is($s, $batch . "mg foo q v O201\r\n", "VA 2 O201\r\nhi\r\n", "200 quiet misses then a hit");

# --- meta and classic commands share items ---
mc_is($s, "set cl 7 0 3\r\nabc\r\n", "STORED\r\n", "classic set");
mc_is($s, "mg cl v f s\r\n", "VA 3 f7 s3\r\nabc\r\n", "mg sees classic flags and data");
mc_is($s, "ms cl 3 F9\r\nxyz\r\n", "HD\r\n", "ms");
mc_is($s, "get cl\r\n", "VALUE cl 9 3\r\nxyz\r\nEND\r\n", "get sees the ms data and flags");
$cas = cas_of($s, 'cl');
mc_is($s, "gets cl\r\n", "VALUE cl 9 3 $cas\r\nxyz\r\nEND\r\n", "gets returns the same CAS as mg c");
mc_is($s, "cas cl 0 0 1 $cas\r\nq\r\n", "STORED\r\n", "classic cas with the mg CAS");
mc_is($s, "incr cl 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", "classic incr on text");
mc_is($s, "ma cl N0\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", "ma on text");
mc_is($s, "ms num 2\r\n10\r\n", "HD\r\n", "ms a number");
mc_is($s, "incr num 5\r\n", "15\r\n", "classic incr on an ms value");
mc_is($s, "ma num v\r\n", "VA 2\r\n16\r\n", "ma after incr");
mc_is($s, "delete num\r\n", "DELETED\r\n", "classic delete");
mc_is($s, "md num\r\n", "NF\r\n", "md after delete");
mc_is($s, "ms gone 1 I\r\nx\r\n", "HD\r\n", "store");
mc_is($s, "md gone I\r\n", "HD\r\n", "mark stale");
mc_is($s, "get gone\r\n", "VALUE gone 0 1\r\nx\r\nEND\r\n", "classic get still returns a stale item");
mc_is($s, "mg gone v\r\n", "VA 1 X W\r\nx\r\n", "and does not take the win token");

done_testing();
