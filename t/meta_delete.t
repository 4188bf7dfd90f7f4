#!/usr/bin/perl
# Meta delete (md): delete, CAS-gated delete, invalidation (I, with T),
# return flags, quiet mode and error wording of memcached 1.6.18.
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

# --- plain delete ---
mc_is($s, "md nokey\r\n", "NF\r\n", "miss is NF");
mc_is($s, "md nokey q\r\n", "NF\r\n", "q does not hide NF");
mc_is($s, "md nokey k O5 q\r\n", "NF knokey O5\r\n", "NF echoes k and O in order");
mc_is($s, "md nokey O5 k\r\n", "NF O5 knokey\r\n", "NF echo order follows the request");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d\r\n", "HD\r\n", "hit is HD");
mc_is($s, "mg d v\r\n", "EN\r\n", "item is gone");
mc_is($s, "md d\r\n", "NF\r\n", "second delete is NF");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d k O5 q\r\n", "", "q hides HD");
mc_is($s, "mg d\r\n", "EN\r\n", "quiet delete happened");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d O\r\n", "HD O\r\n", "empty opaque");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d c s v t f h l u P L\r\n", "HD\r\n", "flags without meaning for md are ignored");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d T30\r\n", "HD\r\n", "T without I still deletes");
mc_is($s, "mg d\r\n", "EN\r\n", "gone");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d MX\r\n", "HD\r\n", "M is not checked by md");

# --- CAS ---
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
my $cas = cas_of($s, 'd');
mc_is($s, "md d C" . ($cas + 1000) . "\r\n", "EX\r\n", "CAS mismatch is EX");
mc_is($s, "md d C" . ($cas + 1000) . " q k\r\n", "EX kd\r\n", "q does not hide EX");
mc_is($s, "md d C0\r\n", "EX\r\n", "C0 is a mismatch");
mc_is($s, "mg d v\r\n", "VA 1\r\nx\r\n", "not deleted on EX");
mc_is($s, "md d C$cas\r\n", "HD\r\n", "CAS match deletes");
mc_is($s, "mg d\r\n", "EN\r\n", "gone");
mc_is($s, "md d C1\r\n", "NF\r\n", "C on a miss is NF");

# --- invalidation ---
mc_is($s, "ms st 3 T100\r\nold\r\n", "HD\r\n", "store st");
$cas = cas_of($s, 'st');
mc_is($s, "md st I\r\n", "HD\r\n", "I marks stale");
my $r = mc_reply($s, "mg st v c t\r\n");
like($r, qr/^VA 3 c(\d+) t(99|100) X W\r\nold\r\n\z/, "stale item keeps data and TTL, first reader wins");
my ($scas) = $r =~ /c(\d+)/;
ok($scas > $cas, "I bumped the CAS");
like(mc_reply($s, "mg st v c\r\n"), qr/^VA 3 c$scas Z X\r\nold\r\n\z/, "later readers see Z X");
mc_is($s, "md st I q\r\n", "", "q hides HD for I");
$r = mc_reply($s, "mg st c\r\n");
like($r, qr/^HD c(\d+) X W\r\n\z/, "a second I clears the won token");
my ($scas2) = $r =~ /c(\d+)/;
ok($scas2 > $scas, "and bumps the CAS again");
mc_is($s, "md st I T30\r\n", "HD\r\n", "I with T");
like(mc_reply($s, "mg st t\r\n"), qr/^HD t(29|30) X W\r\n\z/, "T changed the TTL");
mc_is($s, "md st I C1\r\n", "EX\r\n", "I with a wrong CAS is EX");
$scas = cas_of($s, 'st');
mc_is($s, "md st I C$scas k O9\r\n", "HD kst O9\r\n", "I with the right CAS");
mc_is($s, "md st I T-1\r\n", "HD\r\n", "I with a negative T");
mc_is($s, "mg st\r\n", "EN\r\n", "expired right away");
mc_is($s, "md st I\r\n", "NF\r\n", "I on a miss is NF");
mc_is($s, "mg st\r\n", "EN\r\n", "I on a miss creates nothing");
mc_is($s, "ms st 1\r\nn\r\n", "HD\r\n", "store st");
mc_is($s, "md st I\r\n", "HD\r\n", "mark stale");
mc_is($s, "md st\r\n", "HD\r\n", "a stale item can be deleted");
mc_is($s, "mg st\r\n", "EN\r\n", "gone");

# --- base64 keys ---
mc_is($s, "ms ZGs= 1 b\r\nx\r\n", "HD\r\n", "store binary key 'dk'");
mc_is($s, "md ZGs= b k O2\r\n", "HD kZGs= b O2\r\n", "b delete echoes the encoded key");
mc_is($s, "md ZGs= b k O2\r\n", "NF kZGs= b O2\r\n", "NF with b");
mc_is($s, "md dk k b\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad base64 uses the md wording");

# --- errors: md has one wording for every flag problem ---
mc_is($s, "md\r\n", "ERROR\r\n", "no key");
mc_is($s, "md d x\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "unknown flag");
mc_is($s, "md d E5\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "E is not a 1.6.18 flag");
mc_is($s, "md d q q\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "duplicate flag");
mc_is($s, "md d Cabc\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad C");
mc_is($s, "md d Tx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad T");
mc_is($s, "md d M\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad M length");
mc_is($s, "md d q x\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "errors ignore q");
my $o31 = 'O' . ('x' x 31);
my $o32 = 'O' . ('x' x 32);
mc_is($s, "md d $o31\r\n", "NF $o31\r\n", "32-byte opaque token");
mc_is($s, "md d $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long");
mc_is($s, "ms d 1\r\nx\r\n", "HD\r\n", "store d");
mc_is($s, "md d $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long on a hit");
mc_is($s, "mg d v\r\n", "VA 1\r\nx\r\n", "the failed md deleted nothing");
my $f17 = join ' ', 1 .. 17;
my $f18 = join ' ', 1 .. 18;
mc_is($s, "md d $f17\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "17 flags are parsed");
mc_is($s, "md d $f18\r\n", "CLIENT_ERROR options flags too long\r\n", "18 flags are too many");
mc_is($s, "md " . ('k' x 251) . "\r\n", "CLIENT_ERROR bad command line format\r\n", "251-byte key");
mc_is($s, "md " . ('k' x 250) . " q\r\n", "NF\r\n", "250-byte key");

done_testing();
