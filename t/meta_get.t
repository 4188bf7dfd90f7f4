#!/usr/bin/perl
# Meta get (mg): every request flag, the HD/VA/EN replies, quiet mode, opaque,
# base64 keys, reply-flag order and the exact CLIENT_ERROR wording of memcached 1.6.18.
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

# --- misses ---
mc_is($s, "mg miss\r\n",                   "EN\r\n",                "miss without flags is EN");
mc_is($s, "mg miss v\r\n",                 "EN\r\n",                "miss with v is EN");
mc_is($s, "mg miss s v c f t h l k O12\r\n", "EN kmiss O12\r\n",    "miss echoes only k and O, in order");
mc_is($s, "mg miss O12 k\r\n",             "EN O12 kmiss\r\n",      "miss echo keeps request order");
mc_is($s, "mg miss q\r\n",                 "",                      "q suppresses EN");
mc_is($s, "mg miss q k O1 v\r\n",          "",                      "q suppresses EN even with k/O");

# --- hits ---
mc_is($s, "ms foo 2 F77\r\nhi\r\n", "HD\r\n", "store foo");
my $cas = cas_of($s, 'foo');
ok(defined $cas && $cas > 0, "mg c returns a CAS");
mc_is($s, "mg foo\r\n",          "HD\r\n",                 "hit without flags is HD");
mc_is($s, "mg foo v\r\n",        "VA 2\r\nhi\r\n",         "v returns the value");
mc_is($s, "mg foo q\r\n",        "HD\r\n",                 "q does not hide a hit");
mc_is($s, "mg foo q v\r\n",      "VA 2\r\nhi\r\n",         "q does not hide a VA");
mc_is($s, "mg foo s v\r\n",      "VA 2 s2\r\nhi\r\n",      "s is the value size");
mc_is($s, "mg foo f\r\n",        "HD f77\r\n",             "f is the client flags");
mc_is($s, "mg foo k\r\n",        "HD kfoo\r\n",            "k returns the key");
mc_is($s, "mg foo c\r\n",        "HD c$cas\r\n",           "c is stable across reads");
mc_is($s, "mg foo t\r\n",        "HD t-1\r\n",             "t is -1 without TTL");
mc_is($s, "mg foo O\r\n",        "HD O\r\n",               "empty opaque is echoed as O");
mc_is($s, "mg foo Oabc\r\n",     "HD Oabc\r\n",            "opaque echoed");
mc_is($s, "mg foo O\x01\xff\r\n", "HD O\x01\xff\r\n",      "opaque bytes echoed verbatim");
mc_is($s, "mg foo P L\r\n",      "HD\r\n",                 "P and L are ignored");
mc_is($s, "mg foo Pa/b Lx v\r\n", "VA 2\r\nhi\r\n",        "P and L with tokens are ignored");

# Reply flags follow request order; v only moves the status to VA.
mc_is($s, "mg foo f s v k c O9 t\r\n", "VA 2 f77 s2 kfoo c$cas O9 t-1\r\nhi\r\n", "order f s k c O t");
mc_is($s, "mg foo t c k v s f O9\r\n", "VA 2 t-1 c$cas kfoo s2 f77 O9\r\nhi\r\n", "order t c k s f O");
mc_is($s, "mg foo O1 s\r\n",           "HD O1 s2\r\n",                            "order O s");

# Opaque length: the whole token, O included, may be 32 bytes at most.
my $o31 = 'O' . ('x' x 31);
my $o32 = 'O' . ('x' x 32);
mc_is($s, "mg foo $o31\r\n", "HD $o31\r\n", "32-byte opaque token accepted");
mc_is($s, "mg foo $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "33-byte opaque token rejected");
mc_is($s, "mg miss $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long on a miss");
mc_is($s, "mg miss q $o32\r\n", "CLIENT_ERROR opaque token too long\r\n", "errors are sent with q");

# --- h / u / l: hit-before and last-access are reported as they were before this fetch ---
mc_is($s, "ms hk 1\r\nx\r\n", "HD\r\n", "store hk");
mc_is($s, "mg hk u h\r\n", "HD h0\r\n", "h0 before any fetch");
mc_is($s, "mg hk u h\r\n", "HD h0\r\n", "u does not mark as fetched");
mc_is($s, "mg hk h\r\n",   "HD h0\r\n", "first real fetch still reports h0");
mc_is($s, "mg hk h\r\n",   "HD h1\r\n", "then h1");
mc_is($s, "mg hk u h\r\n", "HD h1\r\n", "u reports h1 once fetched");
mc_is($s, "ms hk 1\r\nx\r\n", "HD\r\n", "re-store resets fetched");
mc_is($s, "mg hk v\r\n", "VA 1\r\nx\r\n", "v fetch");
mc_is($s, "mg hk h\r\n", "HD h1\r\n", "v counts as a fetch");
mc_is($s, "ms hk 1\r\nx\r\n", "HD\r\n", "re-store");
mc_is($s, "mg hk k\r\n", "HD khk\r\n", "k-only fetch");
mc_is($s, "mg hk h\r\n", "HD h1\r\n", "a plain mg counts as a fetch");
mc_is($s, "ms hk 1\r\nx\r\n", "HD\r\n", "re-store");
like(mc_reply($s, "mg hk u l\r\n"), qr/^HD l[01]\r\n\z/, "l is 0 right after a store");

# --- T: touch in flag order ---
mc_is($s, "ms tk 1 T100\r\nx\r\n", "HD\r\n", "store with TTL");
like(mc_reply($s, "mg tk t\r\n"), qr/^HD t(99|100)\r\n\z/, "t is the remaining TTL");
like(mc_reply($s, "mg tk t T500\r\n"), qr/^HD t(99|100)\r\n\z/, "t before T shows the old TTL");
like(mc_reply($s, "mg tk t\r\n"), qr/^HD t(499|500)\r\n\z/, "T updated the TTL");
like(mc_reply($s, "mg tk T300 t\r\n"), qr/^HD t(299|300)\r\n\z/, "t after T shows the new TTL");
mc_is($s, "mg tk T0 t\r\n", "HD t-1\r\n", "T0 removes the TTL");
mc_is($s, "mg tk T-1 v\r\n", "VA 1\r\nx\r\n", "T-1 still returns the value");
mc_is($s, "mg tk v\r\n", "EN\r\n", "T-1 expired the item");
mc_is($s, "mg nope T10 q\r\n", "", "T on a miss with q");

# --- base64 keys ---
mc_is($s, "ms YmluYXJ5 3 b\r\nabc\r\n", "HD\r\n", "store binary key 'binary'");
mc_is($s, "mg YmluYXJ5 b v\r\n", "VA 3\r\nabc\r\n", "b lookup");
mc_is($s, "mg YmluYXJ5 b k v\r\n", "VA 3 kYmluYXJ5 b\r\nabc\r\n", "k returns the key encoded, then b");
mc_is($s, "mg YmluYXJ5 b c k s\r\n", "HD c" . cas_of($s, 'binary') . " kYmluYXJ5 b s3\r\n",
      "the b marker sits right after the key");
mc_is($s, "mg binary k v\r\n", "VA 3 kYmluYXJ5 b\r\nabc\r\n", "binary item found by raw key still prints base64");
mc_is($s, "mg YmluYXJ5 v\r\n", "EN\r\n", "without b the base64 text is a different key");
mc_is($s, "mg Zm9v b k f\r\n", "HD kfoo f77\r\n", "plain item via b prints the plain key without b");
mc_is($s, "mg YWJj b k\r\n", "EN kYWJj b\r\n", "miss with b echoes the encoded key and b");
mc_is($s, "mg YWJj b k q\r\n", "", "miss with b and q is silent");
mc_is($s, "mg dml2 b N30 k\r\n", "HD kviv W\r\n", "a vivified item does not remember its key was base64");
mc_is($s, "mg dml2 b k\r\n", "HD kviv Z\r\n", "so k prints the raw key");
mc_is($s, "mg YQ== b q k\r\n", "", "quiet b miss");
mc_is($s, "mg foo b\r\n", "CLIENT_ERROR error decoding key\r\n", "length not a multiple of 4");
mc_is($s, "mg YQ b\r\n", "CLIENT_ERROR error decoding key\r\n", "missing padding");
mc_is($s, "mg === b\r\n", "CLIENT_ERROR error decoding key\r\n", "only padding");
mc_is($s, "mg Y b k\r\n", "CLIENT_ERROR error decoding key\r\n", "single char");
mc_is($s, "mg !!!! b\r\n", "CLIENT_ERROR error decoding key\r\n", "invalid characters");
mc_is($s, "mg === b q\r\n", "CLIENT_ERROR error decoding key\r\n", "decode error shown with q");

# --- flag and token errors ---
mc_is($s, "mg\r\n",             "ERROR\r\n",                              "mg without key");
mc_is($s, "mg foo x\r\n",       "CLIENT_ERROR invalid flag\r\n",          "unknown flag");
mc_is($s, "mg foo v x\r\n",     "CLIENT_ERROR invalid flag\r\n",          "unknown flag after a good one");
mc_is($s, "mg foo E5\r\n",      "CLIENT_ERROR invalid flag\r\n",          "E is not a 1.6.18 flag");
mc_is($s, "mg foo S5\r\n",      "CLIENT_ERROR invalid flag\r\n",          "S is not an mg flag");
mc_is($s, "mg foo 1\r\n",       "CLIENT_ERROR invalid flag\r\n",          "digit flag");
mc_is($s, "mg foo s s\r\n",     "CLIENT_ERROR duplicate flag\r\n",        "duplicate flag");
mc_is($s, "mg foo Oa Ob\r\n",   "CLIENT_ERROR duplicate flag\r\n",        "duplicate opaque");
mc_is($s, "mg foo P Pa\r\n",    "CLIENT_ERROR duplicate flag\r\n",        "duplicate P");
mc_is($s, "mg foo v q x\r\n",   "CLIENT_ERROR invalid flag\r\n",          "errors ignore q");
mc_is($s, "mg foo N\r\n",       "CLIENT_ERROR bad token in command line format\r\n", "N without token");
mc_is($s, "mg foo Nx\r\n",      "CLIENT_ERROR bad token in command line format\r\n", "N non-numeric");
mc_is($s, "mg foo R\r\n",       "CLIENT_ERROR bad token in command line format\r\n", "R without token");
mc_is($s, "mg foo Tx\r\n",      "CLIENT_ERROR bad token in command line format\r\n", "T non-numeric");
mc_is($s, "mg foo T1x\r\n",     "CLIENT_ERROR bad token in command line format\r\n", "T trailing junk");
mc_is($s, "mg foo Cabc\r\n",    "CLIENT_ERROR bad token in command line format\r\n", "C non-numeric");
mc_is($s, "mg foo Fabc\r\n",    "CLIENT_ERROR bad command line format\r\n", "F non-numeric");
mc_is($s, "mg foo M\r\n",       "CLIENT_ERROR incorrect length for M token\r\n", "M without mode");
mc_is($s, "mg foo MEE\r\n",     "CLIENT_ERROR incorrect length for M token\r\n", "M with two chars");
mc_is($s, "mg foo Dx\r\n",      "CLIENT_ERROR invalid numeric delta value\r\n", "D non-numeric");
mc_is($s, "mg foo Jx\r\n",      "CLIENT_ERROR invalid numeric initial value\r\n", "J non-numeric");
# Token errors do not stop the scan: the last message wins, an invalid flag overrides all.
mc_is($s, "mg foo Fx Dx\r\n",   "CLIENT_ERROR invalid numeric delta value\r\n", "later token error wins");
mc_is($s, "mg foo Dx Fx\r\n",   "CLIENT_ERROR invalid numeric delta value\r\n", "F keeps the earlier message");
mc_is($s, "mg foo Dx Jx\r\n",   "CLIENT_ERROR invalid numeric initial value\r\n", "last message wins");
mc_is($s, "mg foo Dx x\r\n",    "CLIENT_ERROR invalid flag\r\n", "invalid flag after a token error");
mc_is($s, "mg foo b x\r\n",     "CLIENT_ERROR invalid flag\r\n", "invalid flag after a decode error");
mc_is($s, "mg foo $o32 Nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "parse errors before opaque length");
mc_is($s, "mg foo \xff\r\n",   "CLIENT_ERROR duplicate flag\r\n", "a byte >= 127 counts as a duplicate");
mc_is($s, "mg foo \x7f\r\n",   "CLIENT_ERROR duplicate flag\r\n", "DEL counts as a duplicate");
mc_is($s, "mg foo \x01\r\n",   "CLIENT_ERROR invalid flag\r\n",   "control byte flag");
mc_is($s, "mg foo C-1\r\n",     "CLIENT_ERROR bad token in command line format\r\n", "negative C");
mc_is($s, "mg foo vxyz kabc s5\r\n", "VA 2 kfoo s2\r\nhi\r\n", "only the first byte of a flag word counts");
mc_is($s, "mg foo Mab\r\n",     "CLIENT_ERROR incorrect length for M token\r\n", "M with two chars after it");
like(mc_reply($s, "mg foo T+5 t\r\n"), qr/^HD t[45]\r\n\z/, "T with a plus sign");
mc_is($s, "mg foo T0\r\n", "HD\r\n", "clear the TTL again");
# Flags meant for other meta commands are accepted by mg and ignored.
mc_is($s, "mg foo C5 F5 I D5 J5 MX\r\n", "HD\r\n", "ms/ma flags are ignored by mg");

# Too many tokens: 17 flags are parsed, 18 are refused before parsing.
my $f17 = join ' ', 1 .. 17;
my $f18 = join ' ', 1 .. 18;
mc_is($s, "mg foo $f17\r\n", "CLIENT_ERROR invalid flag\r\n", "17 flags are parsed");
mc_is($s, "mg foo $f18\r\n", "CLIENT_ERROR options flags are too long\r\n", "18 flags are too many");
like(mc_reply($s, "mg foo v k s c f t h l u q O1 P L N1 R1 T0 C1\r\n"),
     qr/^VA 2 kfoo s2 c$cas f77 t-1 h1 l[01] O1\r\nhi\r\n\z/, "17 valid flags");

# --- keys and tokenizing ---
my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
mc_is($s, "ms $k250 1\r\nz\r\n", "HD\r\n", "250-byte key stored");
mc_is($s, "mg $k250 k v\r\n", "VA 1 k$k250\r\nz\r\n", "250-byte key read");
mc_is($s, "mg $k251 v\r\n", "CLIENT_ERROR bad command line format\r\n", "251-byte key rejected");
mc_is($s, "mg $k251 q\r\n", "CLIENT_ERROR bad command line format\r\n", "251-byte key rejected with q");
mc_is($s, "mg    foo    v   \r\n", "VA 2\r\nhi\r\n", "runs of spaces separate tokens");
mc_is($s, "mg foo v\n", "VA 2\r\nhi\r\n", "bare LF ends the line");
mc_is($s, "mg foo\tv\r\n", "EN\r\n", "tab is part of the key");
mc_is($s, "ms a\x01b 1\r\nx\r\n", "HD\r\n", "control byte in key accepted");
mc_is($s, "mg a\x01b k v\r\n", "VA 1 ka\x01b\r\nx\r\n", "control byte key read back");

# --- quiet pipeline: only hits answer, mn marks the end ---
mc_is($s, "mg miss1 q v k\r\nmg foo q v k\r\nmg miss2 q v k\r\nmg foo q k O7\r\n",
      "VA 2 kfoo\r\nhi\r\nHD kfoo O7\r\n", "pipelined quiet gets");

# --- a value larger than one TLS record ---
my $big = join '', map { chr(65 + $_ % 26) } 0 .. 99_999;
# No mn after the value: the reference over TLS leaves a command pipelined
# behind a large value unprocessed until more bytes arrive.
raw_is($s, "ms big 100000\r\n$big\r\n", "HD\r\n", "store 100000 bytes");
mc_is($s, "mg big s v\r\n", "VA 100000 s100000\r\n$big\r\n", "read 100000 bytes back");

# --- a value above slab_chunk_max (512 KiB) is stored in chunks ---
my $huge = join '', map { chr(97 + $_ % 26) } 0 .. 699_999;
raw_is($s, "ms chunked 700000 T0\r\n$huge\r\n", "HD\r\n", "store 700000 bytes");
mc_is($s, "mg chunked s v k\r\n", "VA 700000 s700000 kchunked\r\n$huge\r\n", "read 700000 bytes back");
mc_is($s, "ma chunked\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
      "a chunked value is never a number");
mc_is($s, "ms chunked 3 MA\r\nEND\r\n", "HD\r\n", "append to a chunked value");
mc_is($s, "mg chunked s\r\n", "HD s700003\r\n", "appended length");
mc_is($s, "md chunked q\r\n", "", "delete it");

# --- last access grows while untouched (the one sleep in this file) ---
mc_is($s, "ms lk 1 T100\r\nx\r\n", "HD\r\n", "store lk");
sleep 2;
like(mc_reply($s, "mg lk u l t\r\n"), qr/^HD l[1-3] t(9[6-9])\r\n\z/, "l counts up and t counts down");

done_testing();
