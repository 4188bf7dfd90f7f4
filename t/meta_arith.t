#!/usr/bin/perl
# Meta arithmetic (ma): incr/decr modes, 64-bit wrap and floor, auto-create
# (N/J), CAS, TTL, return flags, quiet mode and errors of memcached 1.6.18.
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
my $max = '18446744073709551615';

# --- misses and auto-create ---
mc_is($s, "ma n\r\n", "NF\r\n", "miss is NF");
mc_is($s, "ma n q\r\n", "NF\r\n", "q does not hide NF");
mc_is($s, "ma n v t c k O1\r\n", "NF kn O1\r\n", "NF echoes only k and O");
mc_is($s, "ma n J5 v\r\n", "NF\r\n", "J without N does not create");
mc_is($s, "ma n N0\r\n", "HD\r\n", "N creates");
mc_is($s, "mg n v f t\r\n", "VA 1 f0 t-1\r\n0\r\n", "created with 0, no delta applied");
mc_is($s, "ma n v\r\n", "VA 1\r\n1\r\n", "then increments");
mc_is($s, "ma n2 N0 J7 q\r\n", "HD\r\n", "q does not hide a create");
mc_is($s, "ma n2 N0 J7 q v\r\n", "", "but hides the following increment");
mc_is($s, "mg n2 v\r\n", "VA 1\r\n8\r\n", "J seeded 7, one increment");
my $r = mc_reply($s, "ma n3 N100 J$max v t k O1 c\r\n");
like($r, qr/^VA 20 t(99|100) kn3 O1 c\d+\r\n$max\r\n\z/, "create with max J and TTL");
mc_is($s, "ma n4 t N100 J5 v\r\n", "VA 1 t-1\r\n5\r\n", "t before N shows the TTL before creation");
like(mc_reply($s, "ma n4 t v\r\n"), qr/^VA 1 t(99|100)\r\n6\r\n\z/, "N set the TTL");

# --- incr / decr ---
mc_is($s, "ms x 1 F5\r\n5\r\n", "HD\r\n", "store 5");
mc_is($s, "ma x\r\n", "HD\r\n", "default incr");
mc_is($s, "ma x v\r\n", "VA 1\r\n7\r\n", "default delta is 1");
mc_is($s, "ma x v D10\r\n", "VA 2\r\n17\r\n", "D10");
mc_is($s, "ma x v MI D3\r\n", "VA 2\r\n20\r\n", "MI");
mc_is($s, "ma x v M+ D3\r\n", "VA 2\r\n23\r\n", "M+");
mc_is($s, "ma x v MD D3\r\n", "VA 2\r\n20\r\n", "MD");
mc_is($s, "ma x v M- D3\r\n", "VA 2\r\n17\r\n", "M-");
mc_is($s, "ma x v M- D100\r\n", "VA 1\r\n0\r\n", "decr floors at 0");
mc_is($s, "ma x v MD\r\n", "VA 1\r\n0\r\n", "decr at 0 stays 0");
mc_is($s, "mg x f\r\n", "HD f5\r\n", "client flags survive arithmetic");
mc_is($s, "ma x v D$max\r\n", "VA 20\r\n$max\r\n", "max delta");
mc_is($s, "ma x v\r\n", "VA 1\r\n0\r\n", "incr wraps at 2^64");
mc_is($s, "ms x 1\r\n5\r\n", "HD\r\n", "store 5");
mc_is($s, "ma x v D$max\r\n", "VA 1\r\n4\r\n", "5 + (2^64-1) wraps to 4");
mc_is($s, "ma x v MD D$max\r\n", "VA 1\r\n0\r\n", "max decrement floors");

# Decrement that shortens the number pads with spaces; increment that grows reallocates.
mc_is($s, "ms p 3 F9 T100\r\n100\r\n", "HD\r\n", "store 100");
mc_is($s, "ma p MD v\r\n", "VA 2\r\n99\r\n", "100 - 1");
mc_is($s, "mg p v s\r\n", "VA 3 s3\r\n99 \r\n", "stored value is space padded");
mc_is($s, "ma p v\r\n", "VA 3\r\n100\r\n", "padded value still counts");
mc_is($s, "ma p v D900\r\n", "VA 4\r\n1000\r\n", "growth");
like(mc_reply($s, "mg p v s f t\r\n"), qr/^VA 4 s4 f9 t(99|100)\r\n1000\r\n\z/, "grown item keeps flags and TTL");
mc_is($s, "ma p v MD D999\r\n", "VA 1\r\n1\r\n", "shrink by 3 digits");
mc_is($s, "mg p v\r\n", "VA 4\r\n1   \r\n", "padded with three spaces");

# --- non-numeric values ---
for my $v ('abc', '-1', '', '12ab', '18446744073709551616', '1.5') {
    my $len = length $v;
    mc_is($s, "ms nn $len\r\n$v\r\n", "HD\r\n", "store '$v'");
    mc_is($s, "ma nn v\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
          "'$v' is non-numeric");
    mc_is($s, "ma nn q MD\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
          "'$v' error shown with q");
}
mc_is($s, "ms nn 3\r\n 12\r\n", "HD\r\n", "store ' 12'");
mc_is($s, "ma nn v\r\n", "VA 2\r\n13\r\n", "leading space is accepted");
mc_is($s, "ms nn 21\r\n0$max\r\n", "HD\r\n", "store max with a leading zero");
mc_is($s, "ma nn v\r\n", "VA 1\r\n0\r\n", "leading zero parses and wraps");

# --- CAS ---
mc_is($s, "ms c 1\r\n5\r\n", "HD\r\n", "store 5");
my $cas = cas_of($s, 'c');
mc_is($s, "ma c C" . ($cas + 1000) . " v c\r\n", "EX\r\n", "mismatch is EX without c or v");
mc_is($s, "ma c C" . ($cas + 1000) . " q k O3\r\n", "EX kc O3\r\n", "q does not hide EX; k O echoed");
mc_is($s, "mg c v\r\n", "VA 1\r\n5\r\n", "not changed on EX");
$r = mc_reply($s, "ma c C$cas v c\r\n");
like($r, qr/^VA 1 c(\d+)\r\n6\r\n\z/, "match applies the delta");
my ($newcas) = $r =~ /c(\d+)/;
ok($newcas > $cas, "and returns a new CAS");
mc_is($s, "mg c c\r\n", "HD c$newcas\r\n", "the returned CAS is the stored one");
mc_is($s, "ma c C$cas\r\n", "EX\r\n", "the old CAS no longer matches");
mc_is($s, "ma nocas C1\r\n", "NF\r\n", "C on a miss is NF");

# --- TTL ---
mc_is($s, "ms t 1\r\n1\r\n", "HD\r\n", "store without TTL");
mc_is($s, "ma t t T100\r\n", "HD t-1\r\n", "t before T shows the old TTL");
like(mc_reply($s, "ma t T200 t\r\n"), qr/^HD t(199|200)\r\n\z/, "t after T shows the new TTL");
like(mc_reply($s, "mg t t v\r\n"), qr/^VA 1 t(199|200)\r\n3\r\n\z/, "TTL stored");
mc_is($s, "ma t T-1\r\n", "HD\r\n", "negative T");
mc_is($s, "mg t\r\n", "EN\r\n", "expired the item");

# Quirk: when the new number no longer fits, the reference makes a new item
# and applies T to the replaced one: the reply shows the new TTL, the cache keeps the old.
mc_is($s, "ms g 2 T50\r\n99\r\n", "HD\r\n", "store 99 with TTL 50");
like(mc_reply($s, "ma g T100 t v\r\n"), qr/^VA 3 t(99|100)\r\n100\r\n\z/, "reply shows T100");
like(mc_reply($s, "mg g t v\r\n"), qr/^VA 3 t(49|50)\r\n100\r\n\z/, "but the stored TTL is still 50");
like(mc_reply($s, "ma g T100 t v\r\n"), qr/^VA 3 t(99|100)\r\n101\r\n\z/, "in place: T100");
like(mc_reply($s, "mg g t v\r\n"), qr/^VA 3 t(99|100)\r\n101\r\n\z/, "and stored");

# --- quiet mode ---
mc_is($s, "ms q 1\r\n1\r\n", "HD\r\n", "store 1");
mc_is($s, "ma q q\r\n", "", "q hides HD");
mc_is($s, "ma q q v k O1\r\n", "", "q hides VA too");
mc_is($s, "ma q q\r\nma qmiss q\r\nma q q v\r\nmg q v\r\n", "NF\r\nVA 1\r\n5\r\n", "quiet pipeline");

# --- base64 keys ---
mc_is($s, "ms eA== 1 b\r\n5\r\n", "HD\r\n", "store binary key 'x'");
mc_is($s, "ma eA== b v k\r\n", "VA 1 keA== b\r\n6\r\n", "b key, k encoded");
mc_is($s, "ma eQ== b k O1\r\n", "NF keQ== b O1\r\n", "NF with b");
mc_is($s, "ma eQ b\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad base64 uses the ma wording");

# --- errors: ma has one wording for every flag problem ---
mc_is($s, "ma\r\n", "ERROR\r\n", "no key");
for my $f ('x', 'E5', 'q q', "D18446744073709551616", 'D-1', 'Dabc', 'D', "J18446744073709551616",
           'Jx', 'Nx', 'N', 'Tx', 'Cx', 'MII', 'M', 't T100 t') {
    mc_is($s, "ma c $f\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "bad flags '$f'");
}
mc_is($s, "ma c MX\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", "unknown mode");
mc_is($s, "ma c Md\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", "lower-case d is invalid");
mc_is($s, "ma c ME\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", "ms mode is invalid");
mc_is($s, "ma c MX q\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n", "mode error with q");
mc_is($s, "ma c s f h l u P L\r\n", "HD\r\n", "flags without meaning for ma are ignored");
my $o31 = 'O' . ('x' x 31);
my $o32 = 'O' . ('x' x 32);
mc_is($s, "ma c $o31 v\r\n", "VA 1 $o31\r\n8\r\n", "32-byte opaque token");
mc_is($s, "ma c $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long");
mc_is($s, "mg c v\r\n", "VA 1\r\n9\r\n", "the reference applied the delta before the opaque check");
mc_is($s, "ma nothere $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long on a miss");
my $f17 = join ' ', 1 .. 17;
my $f18 = join ' ', 1 .. 18;
mc_is($s, "ma c $f17\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n", "17 flags are parsed");
mc_is($s, "ma c $f18\r\n", "CLIENT_ERROR options flags too long\r\n", "18 flags are too many");
mc_is($s, "ma " . ('k' x 251) . "\r\n", "CLIENT_ERROR bad command line format\r\n", "251-byte key");
mc_is($s, "ma " . ('k' x 250) . " N0 J3 v\r\n", "VA 1\r\n3\r\n", "250-byte key");

done_testing();
