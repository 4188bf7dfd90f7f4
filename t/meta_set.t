#!/usr/bin/perl
# Meta set (ms): modes, CAS compare and invalidate, client flags, TTL, the
# return flags, quiet mode, and which errors swallow the data block (1.6.18).
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

# --- plain stores and return flags ---
mc_is($s, "ms foo 2\r\nhi\r\n", "HD\r\n", "basic store");
mc_is($s, "mg foo v f t\r\n", "VA 2 f0 t-1\r\nhi\r\n", "stored with flags 0 and no TTL");
mc_is($s, "ms foo 0\r\n\r\n", "HD\r\n", "empty value");
mc_is($s, "mg foo v s\r\n", "VA 0 s0\r\n\r\n", "empty value read back");
mc_is($s, "ms foo +2\r\nhi\r\n", "HD\r\n", "datalen with a plus sign");
mc_is($s, "ms foo 02\r\nhi\r\n", "HD\r\n", "datalen with a leading zero");
mc_is($s, "ms foo 2 k\r\nhi\r\n", "HD kfoo\r\n", "k echoes the key");
mc_is($s, "ms foo 2 O123\r\nhi\r\n", "HD O123\r\n", "opaque echoed");
mc_is($s, "ms foo 2 O\r\nhi\r\n", "HD O\r\n", "empty opaque echoed");
my $r = mc_reply($s, "ms foo 2 c k O99\r\nhi\r\n");
like($r, qr/^HD c(\d+) kfoo O99\r\n\z/, "c k O in request order");
my ($c1) = $r =~ /c(\d+)/;
mc_is($s, "mg foo c\r\n", "HD c$c1\r\n", "c returned the stored CAS");
$r = mc_reply($s, "ms foo 2 O7 c\r\nhi\r\n");
like($r, qr/^HD O7 c(\d+)\r\n\z/, "O c order");
my ($c2) = $r =~ /c(\d+)/;
ok($c2 > $c1, "each store gets a new CAS");
mc_is($s, "ms foo 2 P L Lx Py\r\nhi\r\n", "CLIENT_ERROR duplicate flag\r\n", "duplicate P/L");
mc_is($s, "ms foo 2 P Lx s v t f h l u N5 R5 D1 J1\r\nhi\r\n", "HD\r\n", "flags of other commands are ignored");

# --- client flags ---
mc_is($s, "ms fl 1 F4294967295\r\nx\r\n", "HD\r\n", "F max u32");
mc_is($s, "mg fl f\r\n", "HD f4294967295\r\n", "max u32 flags back");
mc_is($s, "ms fl 1 F4294967297\r\nx\r\n", "HD\r\n", "F above u32 accepted");
mc_is($s, "mg fl f\r\n", "HD f1\r\n", "F above u32 is truncated to 32 bits");
mc_is($s, "ms fl 1 F-1\r\nx\r\n", "CLIENT_ERROR bad command line format\r\n", "negative F refused, data swallowed");
mc_is($s, "ms fl 1 Fabc\r\nx\r\n", "CLIENT_ERROR bad command line format\r\n", "non-numeric F refused, data swallowed");
mc_is($s, "mg fl f v\r\n", "VA 1 f1\r\nx\r\n", "failed stores left the item alone");

# --- TTL ---
mc_is($s, "ms tt 1 T100\r\nx\r\n", "HD\r\n", "store with TTL");
like(mc_reply($s, "mg tt t\r\n"), qr/^HD t(99|100)\r\n\z/, "TTL set");
mc_is($s, "ms tt 1 T0\r\nx\r\n", "HD\r\n", "T0");
mc_is($s, "mg tt t\r\n", "HD t-1\r\n", "T0 means no TTL");
mc_is($s, "ms tt 1 T-1\r\nx\r\n", "HD\r\n", "negative TTL accepted");
mc_is($s, "mg tt v\r\n", "EN\r\n", "negative TTL stores an expired item");
mc_is($s, "ms tt 1 T4294967396\r\nx\r\n", "HD\r\n", "T above 32 bits is truncated");
like(mc_reply($s, "mg tt t\r\n"), qr/^HD t(99|100)\r\n\z/, "T4294967396 is 100 s");
mc_is($s, "ms tt 1 T9223372036854775808\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n",
      "T beyond a 64-bit long");
mc_is($s, "ms tt 4294967297\r\ny\r\n", "HD\r\n", "datalen above 32 bits is truncated (to 1)");
mc_is($s, "mg tt v\r\n", "VA 1\r\ny\r\n", "one byte stored");
mc_is($s, "ms tt 2147483648\r\ny\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n",
      "datalen truncated to a negative number");
mc_is($s, "ms tt 1 Tabc\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "bad T");
mc_is($s, "ms tt 1 T\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "empty T");

# --- modes ---
mc_is($s, "ms md 1 ME\r\na\r\n", "HD\r\n", "ME adds a missing key");
mc_is($s, "ms md 1 ME\r\nb\r\n", "NS\r\n", "ME on an existing key is NS");
mc_is($s, "ms md 1 ME q\r\nb\r\n", "NS\r\n", "q does not hide NS");
mc_is($s, "ms md 1 ME c\r\nb\r\n", "NS c0\r\n", "c on NS prints c0");
mc_is($s, "ms nomd 1 MR\r\na\r\n", "NS\r\n", "MR on a missing key is NS");
mc_is($s, "ms nomd 1 MA\r\na\r\n", "NS\r\n", "MA on a missing key is NS");
mc_is($s, "ms nomd 1 MP c k\r\na\r\n", "NS c0 knomd\r\n", "MP on a missing key is NS");
mc_is($s, "mg nomd\r\n", "EN\r\n", "nothing was created");
mc_is($s, "ms md 1 MR\r\nr\r\n", "HD\r\n", "MR replaces");
mc_is($s, "ms md 2 MA\r\nyz\r\n", "HD\r\n", "MA appends");
mc_is($s, "ms md 2 MP\r\nwx\r\n", "HD\r\n", "MP prepends");
mc_is($s, "mg md v\r\n", "VA 5\r\nwxryz\r\n", "append and prepend result");
mc_is($s, "ms md 1 MS\r\ns\r\n", "HD\r\n", "MS sets");
mc_is($s, "mg md v\r\n", "VA 1\r\ns\r\n", "MS result");
mc_is($s, "ms ap 1 F1 T100\r\na\r\n", "HD\r\n", "store for append");
mc_is($s, "ms ap 1 MA F9 T0\r\nb\r\n", "HD\r\n", "append with F and T");
like(mc_reply($s, "mg ap f t v\r\n"), qr/^VA 2 f1 t(99|100)\r\nab\r\n\z/, "append keeps the old flags and TTL");
mc_is($s, "ms md 1 MZ\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", "unknown mode, data swallowed");
mc_is($s, "ms md 1 Ms\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", "lower-case mode is invalid");
mc_is($s, "ms md 1 Me\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", "lower-case e is invalid");
mc_is($s, "ms md 1 MI\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", "ma mode is invalid for ms");
mc_is($s, "ms md 1 M\r\nx\r\n", "CLIENT_ERROR incorrect length for M token\r\n", "empty mode");
mc_is($s, "ms md 1 MEE\r\nx\r\n", "CLIENT_ERROR incorrect length for M token\r\n", "two-char mode");
mc_is($s, "ms md 1 MZ q\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n", "mode error with q");
mc_is($s, "mg md v\r\n", "VA 1\r\ns\r\n", "bad modes stored nothing");

# --- CAS ---
my $cas = cas_of($s, 'md');
mc_is($s, "ms md 1 C" . ($cas + 1000) . "\r\nx\r\n", "EX\r\n", "C mismatch is EX");
mc_is($s, "ms md 1 C" . ($cas + 1000) . " q\r\nx\r\n", "EX\r\n", "q does not hide EX");
mc_is($s, "ms md 1 C0 c k\r\nx\r\n", "EX c0 kmd\r\n", "C0 on an existing item is EX, c0");
mc_is($s, "ms nocas 1 C1\r\nx\r\n", "NF\r\n", "C on a missing key is NF");
mc_is($s, "ms nocas 1 C1 q c\r\nx\r\n", "NF c0\r\n", "q does not hide NF");
mc_is($s, "ms nocas 1 C1 MR\r\nx\r\n", "NF\r\n", "MR with C on a missing key is NF");
mc_is($s, "ms md 1 C$cas MP\r\np\r\n", "HD\r\n", "MP with matching C");
my $cas2 = cas_of($s, 'md');
mc_is($s, "ms md 1 C$cas MA\r\na\r\n", "EX\r\n", "MA with stale C is EX");
mc_is($s, "ms md 1 C$cas2 MA\r\na\r\n", "HD\r\n", "MA with matching C");
mc_is($s, "ms md 1 C1 ME\r\na\r\n", "NS\r\n", "ME with C on an existing key is NS");
mc_is($s, "mg md v\r\n", "VA 3\r\npsa\r\n", "CAS-gated appends");
$cas = cas_of($s, 'md');
$r = mc_reply($s, "ms md 1 C$cas c\r\nm\r\n");
like($r, qr/^HD c(\d+)\r\n\z/, "matching C stores");
my ($newcas) = $r =~ /c(\d+)/;
ok($newcas != $cas, "a CAS store gets a fresh CAS");
mc_is($s, "ms md 1 C$cas\r\nm\r\n", "EX\r\n", "the old CAS no longer matches");
mc_is($s, "ms md 1 Cabc\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "non-numeric C");
mc_is($s, "ms md 1 C\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "empty C");
mc_is($s, "ms md 1 C18446744073709551616\r\nx\r\n", "CLIENT_ERROR bad token in command line format\r\n", "C above u64");

# --- invalidation: I with an older CAS stores but marks the item stale ---
$cas = cas_of($s, 'md');
mc_is($s, "ms md 1 I\r\ni\r\n", "HD\r\n", "I without C is a plain set");
mc_is($s, "mg md v\r\n", "VA 1\r\ni\r\n", "not stale");
$cas = cas_of($s, 'md');
mc_is($s, "ms md 1 I C" . ($cas + 1000) . "\r\nx\r\n", "EX\r\n", "I with a newer C is EX");
$r = mc_reply($s, "ms md 3 I C" . ($cas - 1) . " c\r\nold\r\n");
like($r, qr/^HD c\d+\r\n\z/, "I with an older C stores");
($newcas) = $r =~ /c(\d+)/;
ok($newcas > $cas, "the stale store got a new CAS");
mc_is($s, "mg md v c\r\n", "VA 3 c$newcas X W\r\nold\r\n", "the stored item is stale; first reader wins");
mc_is($s, "mg md v c\r\n", "VA 3 c$newcas Z X\r\nold\r\n", "later readers see Z");
mc_is($s, "ms md 1 I C0\r\nz\r\n", "EX\r\n", "I with C0 is EX, not a stale store");
mc_is($s, "ms md 1 I C$newcas\r\nn\r\n", "HD\r\n", "I with the equal CAS is a normal CAS store");
mc_is($s, "mg md v\r\n", "VA 1\r\nn\r\n", "no longer stale");

# --- quiet mode ---
mc_is($s, "ms q1 1 q\r\na\r\n", "", "q hides HD");
mc_is($s, "ms q1 1 q k O1 c\r\na\r\n", "", "q hides HD with return flags");
mc_is($s, "ms q1 1 q\r\na\r\nms q1 1 q ME\r\nb\r\nms q2 1 q\r\nc\r\nmg q1 v q\r\nmg q2 v q\r\n",
      "NS\r\nVA 1\r\na\r\nVA 1\r\nc\r\n", "quiet pipeline shows only NS and hits");

# --- base64 keys ---
mc_is($s, "ms Zm9vYmFy 3 b k\r\nabc\r\n", "HD kZm9vYmFy b\r\n", "b store echoes the encoded key and b");
mc_is($s, "mg foobar v\r\n", "VA 3\r\nabc\r\n", "stored under the decoded key");
mc_is($s, "ms Zm9vYmFy 1 b MA k c O1\r\nd\r\n", "HD kZm9vYmFy b c" . (cas_of($s, 'foobar') + 1) . " O1\r\n",
      "b append with k c O");
mc_is($s, "ms foobar 1 b\r\nx\r\n", "CLIENT_ERROR error decoding key\r\n", "bad base64 key, data swallowed");
mc_is($s, "ms Zm9vYmFy= 1 b\r\nx\r\n", "CLIENT_ERROR error decoding key\r\n", "bad padding");

# --- flag errors swallow the data block ---
mc_is($s, "ms e 2 x\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n", "unknown flag");
mc_is($s, "ms e 2 S2\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n", "S is not a 1.6.18 flag");
mc_is($s, "ms e 2 E5\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n", "E is not a 1.6.18 flag");
mc_is($s, "ms e 2 q q\r\nhi\r\n", "CLIENT_ERROR duplicate flag\r\n", "duplicate flag");
mc_is($s, "ms e 2 Dx\r\nhi\r\n", "CLIENT_ERROR invalid numeric delta value\r\n", "bad D");
mc_is($s, "ms e 2 Jx\r\nhi\r\n", "CLIENT_ERROR invalid numeric initial value\r\n", "bad J");
mc_is($s, "ms e 2 Nx\r\nhi\r\n", "CLIENT_ERROR bad token in command line format\r\n", "bad N");
my $o32 = 'O' . ('x' x 32);
mc_is($s, "ms e 2 $o32\r\nhi\r\n", "CLIENT_ERROR opaque token too long\r\n", "opaque too long");
mc_is($s, "ms e 2 O" . ('x' x 31) . "\r\nhi\r\n", "HD O" . ('x' x 31) . "\r\n", "32-byte opaque token");
mc_is($s, "ms e 2 q x\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n", "errors ignore q");
mc_is($s, "ms e 20 x\r\n" . ('d' x 20) . "\r\n", "CLIENT_ERROR invalid flag\r\n", "20-byte block swallowed");
mc_is($s, "mg e v\r\n", "VA 2\r\nhi\r\n", "only the good store landed");
my $f16 = join ' ', 1 .. 16;
my $f17 = join ' ', 1 .. 17;
mc_is($s, "ms e 2 $f16\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n", "16 flags are parsed");
mc_is($s, "ms e 2 $f17\r\nhi\r\n", "CLIENT_ERROR options flags too long\r\nERROR\r\n",
      "17 flags are too many and the block is not swallowed");

# --- line errors do not swallow: the data line is read as a command ---
mc_is($s, "ms\r\n", "ERROR\r\n", "no key");
mc_is($s, "ms e\r\n", "CLIENT_ERROR bad command line format\r\n", "no datalen");
mc_is($s, "ms e b\r\nmn\r\n", "CLIENT_ERROR bad command line format\r\nMN\r\n", "non-numeric datalen");
mc_is($s, "ms e 2abc\r\nhi\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n", "datalen with junk");
mc_is($s, "ms e -1\r\nhi\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n", "negative datalen");
my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
mc_is($s, "ms $k250 1 k\r\nx\r\n", "HD k$k250\r\n", "250-byte key");
mc_is($s, "ms $k251 1\r\nx\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n", "251-byte key, no swallow");

# --- bad data chunk: exactly datalen+2 bytes are consumed ---
mc_is($s, "ms bc 2\r\nhiX\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", "one byte too many");
mc_is($s, "ms bc 2 q\r\nhiXY\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", "bad chunk shown with q");
mc_is($s, "mg bc v\r\n", "EN\r\n", "nothing stored on a bad chunk");

# --- too large: the block is swallowed ---
my $huge = 'h' x 2_000_000;
raw_is($s, "ms huge 2000000 k O1\r\n$huge\r\n", "SERVER_ERROR object too large for cache\r\n", "too large");
mc_is($s, "mg huge v\r\n", "EN\r\n", "and nothing stored");
mc_is($s, "ms huge 1\r\nx\r\n", "HD\r\n", "store a small value");
raw_is($s, "ms huge 2000000 ME\r\n$huge\r\n", "SERVER_ERROR object too large for cache\r\n", "too large add");
mc_is($s, "mg huge v\r\n", "EN\r\n", "a refused ms removes the old value, whatever the mode");

done_testing();
