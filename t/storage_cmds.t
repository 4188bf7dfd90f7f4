#!/usr/bin/perl
# Storage commands of the classic text protocol: set/add/replace/append/
# prepend/cas, their argument parsing and error replies, byte for byte as
# memcached 1.6.18 produces them.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;

my $srv = MCTest::new_server();
my $s = $srv->sock;

# Send raw bytes; compare everything up to the sync point (see sync_reply).
sub reply_is {
    my ($raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($s, $raw), $want, $name);
}

sub get_is { local $Test::Builder::Level = $Test::Builder::Level + 1; MCTest::mem_get_is($s, @_) }

my $BADFMT = "CLIENT_ERROR bad command line format\r\n";

# ---- set and flags
reply_is("set foo 0 0 3\r\nbar\r\n", "STORED\r\n", 'set');
get_is('foo', ['bar', 0], 'get after set');
reply_is("set foo 4294967295 0 3\r\nbaz\r\n", "STORED\r\n", 'flags 2^32-1');
get_is('foo', ['baz', 4294967295], 'flags 2^32-1 round trip');
reply_is("set foo 4294967296 0 1\r\nx\r\n", "STORED\r\n", 'flags 2^32 accepted');
get_is('foo', ['x', 0], 'flags 2^32 truncated to 0');
reply_is("set foo 4294967297 0 1\r\nx\r\n", "STORED\r\n", 'flags 2^32+1 accepted');
get_is('foo', ['x', 1], 'flags 2^32+1 truncated to 1');
reply_is("set foo 18446744073709551615 0 1\r\ny\r\n", "STORED\r\n", 'flags 2^64-1 accepted');
get_is('foo', ['y', 4294967295], 'flags 2^64-1 truncated to 2^32-1');
reply_is("set foo 18446744073709551616 0 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'flags 2^64: error, data line parsed as command');
reply_is("set foo -1 0 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'negative flags');
reply_is("set foo abc 0 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'non-numeric flags');
reply_is("set foo 0x1 0 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'hex flags');
get_is('foo', ['y', 4294967295], 'failed sets left the value alone');
reply_is("set foo 00042 0 1\r\nq\r\n", "STORED\r\n", 'flags with leading zeros');
get_is('foo', ['q', 42], 'leading zeros are decimal');

# ---- exptime forms (time-dependent behaviour lives in expiry.t)
reply_is("set e1 0 0 1\r\na\r\n", "STORED\r\n", 'exptime 0');
reply_is("set e2 0 1000 1\r\nb\r\n", "STORED\r\n", 'exptime relative');
reply_is("set e3 0 -1 1\r\nc\r\n", "STORED\r\n", 'exptime negative is STORED');
reply_is("set e4 0 " . (time() + 3600) . " 1\r\nd\r\n", "STORED\r\n", 'exptime absolute future');
reply_is("set e5 0 2592001 1\r\ne\r\n", "STORED\r\n", 'exptime absolute in 1970');
get_is('e1', 'a', 'exptime 0 never expires');
get_is('e2', 'b', 'relative exptime readable');
get_is('e3', undef, 'negative exptime: expired at once');
get_is('e4', 'd', 'absolute future readable');
get_is('e5', undef, 'absolute past: expired at once');
reply_is("set e6 0 abc 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'non-numeric exptime');
reply_is("set e6 0 1.5 1\r\nz\r\n", "${BADFMT}ERROR\r\n", 'fractional exptime');
get_is('e6', undef, 'nothing stored by bad exptime');

# ---- value contents
reply_is("set empty 0 0 0\r\n\r\n", "STORED\r\n", 'zero-length value');
is(MCTest::sync_reply($s, "get empty\r\n"), "VALUE empty 0 0\r\n\r\nEND\r\n", 'zero-length value reply bytes');
my $bin = "a\r\nb\0c\r\n\r\nEND\r\n\xff";
reply_is("set bin 7 0 " . length($bin) . "\r\n$bin\r\n", "STORED\r\n", 'binary value with CRLF, NUL, END inside');
get_is('bin', [$bin, 7], 'binary value round trip');
reply_is("set crlf 0 0 4\r\n\r\n\r\n\r\n", "STORED\r\n", 'value that is two CRLFs');
MCTest::send_cmd($s, "get crlf\r\n");
is(MCTest::read_bytes($s, length("VALUE crlf 0 4\r\n\r\n\r\n\r\nEND\r\n")),
    "VALUE crlf 0 4\r\n\r\n\r\n\r\nEND\r\n", 'CRLF value reply bytes');

# ---- bad data chunk: exactly len+2 bytes consumed, then parsing resumes
reply_is("set bad 0 0 1\r\nxy\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    'data one byte too long: error, leftover "\n" is an empty command');
reply_is("set bad 0 0 1\r\nxyzget bad\r\n", "CLIENT_ERROR bad data chunk\r\nEND\r\n",
    'parsing resumes right after len+2 bytes');
reply_is("set bad 0 0 3\r\nabcde\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", 'longer data');
get_is('bad', undef, 'bad chunk stores nothing');
reply_is("set bad 0 0 2\r\nab\n\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", 'LF-only terminator is a bad chunk');
reply_is("set bad 0 0 1 noreply\r\nxy\r\n", "ERROR\r\n", 'noreply hides bad data chunk but not the leftover ERROR');
reply_is("set foo 0 0 1\r\nfoo\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", 'bad chunk on existing key');
get_is('foo', ['q', 42], 'bad data chunk on set keeps the old value');

# A short value followed by a lone "\n" waits for the missing byte. (Only
# that byte is sent next: the reference over TLS reads the rest of a value
# with an exact-length SSL_read and would leave later bytes of the same
# record unprocessed until more data arrives.)
MCTest::send_cmd($s, "set w 0 0 1\r\nx\n");
is(MCTest::read_all($s, 0.3), '', 'incomplete data block: no reply yet');
MCTest::send_cmd($s, "z");
is(MCTest::read_line($s), "CLIENT_ERROR bad data chunk\r\n", 'the next byte completes it as a bad chunk');
reply_is("get w\r\n", "END\r\n", 'nothing stored, stream in sync');

# ---- length field
reply_is("set l 0 0 -1\r\nx\r\n", "${BADFMT}ERROR\r\n", 'negative length');
reply_is("set l 0 0 abc\r\nx\r\n", "${BADFMT}ERROR\r\n", 'non-numeric length');
reply_is("set l 0 0 1x\r\nx\r\n", "${BADFMT}ERROR\r\n", 'length with trailing junk');
reply_is("set l 0 0 1.0\r\nx\r\n", "${BADFMT}ERROR\r\n", 'fractional length');
reply_is("set l 0 0 0x1\r\nx\r\n", "${BADFMT}ERROR\r\n", 'hex length');
reply_is("set l 0 0 2147483647\r\n", $BADFMT, 'length INT_MAX: format error, nothing swallowed');
reply_is("set l 0 0 2147483646\r\n", $BADFMT, 'length INT_MAX-1: format error');
reply_is("set l 0 0 +1\r\nx\r\n", "STORED\r\n", 'length with + sign');
reply_is("set l 0 0 01\r\ny\r\n", "STORED\r\n", 'length with leading zero');
get_is('l', 'y', 'leading zero length stored');
reply_is("set l 0 0 1\r\r\nz\r\n", "STORED\r\n", 'extra CR before LF on the command line');
get_is('l', 'z', 'value stored despite CR CR LF');

# ---- token counts and spacing
reply_is("set t 0 0\r\n", "ERROR\r\n", 'too few tokens');
reply_is("set t\r\n", "ERROR\r\n", 'key only');
reply_is("set\r\n", "ERROR\r\n", 'bare set');
reply_is("set t 0 0 1 noreply extra\r\nx\r\n", "ERROR\r\nERROR\r\n", '7 words: ERROR, data line ERROR');
reply_is("set t 0 0 1 " . join(' ', ('x') x 30) . "\r\nx\r\n", "ERROR\r\nERROR\r\n", 'more than MAX_TOKENS words');
reply_is("set t 0 0 1 foo\r\nx\r\n", "STORED\r\n", '6th word other than noreply is ignored');
reply_is("set t 0 0 1 noreplyx\r\nx\r\n", "STORED\r\n", '"noreplyx" is not noreply');
reply_is("set  t   0  0  1  \r\ny\r\n", "STORED\r\n", 'multiple and trailing spaces');
get_is('t', 'y', 'stored with odd spacing');
reply_is("set t 0 0 1\nw\r\n", "STORED\r\n", 'LF-only command line');
get_is('t', 'w', 'LF-only line stored');
reply_is("SET t 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", 'commands are case-sensitive');
reply_is("set\tt 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", 'tab is not a separator');
reply_is("set t 0 0 1\0junk\r\nv\r\n", "STORED\r\n", 'NUL ends the command line');
get_is('t', 'v', 'value stored after NUL-truncated line');
reply_is("set t\0 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", 'NUL early: too few tokens');

# ---- key length
my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
reply_is("set $k250 0 0 2\r\nok\r\n", "STORED\r\n", '250-byte key');
get_is($k250, 'ok', '250-byte key readable');
reply_is("set $k251 0 0 2\r\nno\r\n", "${BADFMT}ERROR\r\n", '251-byte key rejected, data parsed as command');
reply_is("set $k251 0 0 2 noreply\r\nno\r\n", "ERROR\r\n", '251-byte key with noreply: only the data line ERROR');
for my $c (qw(add replace append prepend)) {
    reply_is("$c $k251 0 0 2\r\nno\r\n", "${BADFMT}ERROR\r\n", "$c with 251-byte key");
}
reply_is("cas $k251 0 0 2 1\r\nno\r\n", "${BADFMT}ERROR\r\n", 'cas with 251-byte key');

# ---- add / replace / append / prepend
reply_is("add a1 5 0 1\r\nx\r\n", "STORED\r\n", 'add missing');
reply_is("add a1 6 0 1\r\ny\r\n", "NOT_STORED\r\n", 'add existing');
get_is('a1', ['x', 5], 'add did not overwrite');
reply_is("replace r1 0 0 1\r\nx\r\n", "NOT_STORED\r\n", 'replace missing');
get_is('r1', undef, 'replace did not create');
reply_is("replace a1 7 0 2\r\nzz\r\n", "STORED\r\n", 'replace existing');
get_is('a1', ['zz', 7], 'replace changed value and flags');
reply_is("append a1 9 0 1\r\n+\r\n", "STORED\r\n", 'append');
reply_is("prepend a1 9 0 1\r\n-\r\n", "STORED\r\n", 'prepend');
get_is('a1', ['-zz+', 7], 'append/prepend keep flags, concatenate');
reply_is("append a1 0 0 0\r\n\r\n", "STORED\r\n", 'append empty');
get_is('a1', '-zz+', 'append empty is a no-op');
reply_is("append nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n", 'append missing');
reply_is("prepend nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n", 'prepend missing');
get_is('nope', undef, 'append/prepend did not create');
reply_is("append a1 0 0 2\r\n\r\n\r\n", "STORED\r\n", 'append CRLF');
get_is('a1', "-zz+\r\n", 'appended CRLF is data');
reply_is("append a1 0 0 1\r\nxy\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", 'append bad chunk');
get_is('a1', "-zz+\r\n", 'failed append keeps the value');

# ---- cas
reply_is("set c1 3 0 3\r\none\r\n", "STORED\r\n", 'set for cas');
my ($cas) = MCTest::mem_gets($s, 'c1');
ok(defined $cas && $cas =~ /^\d+$/ && $cas > 0, 'gets returns a numeric cas');
reply_is("cas c1 3 0 3 " . ($cas + 1000) . "\r\ntwo\r\n", "EXISTS\r\n", 'cas wrong unique');
get_is('c1', 'one', 'EXISTS left the value');
reply_is("cas c1 4 0 3 $cas\r\ntwo\r\n", "STORED\r\n", 'cas right unique');
get_is('c1', ['two', 4], 'cas stored value and flags');
reply_is("cas c1 4 0 5 $cas\r\nthree\r\n", "EXISTS\r\n", 'old unique no longer valid');
reply_is("cas nocas 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n", 'cas missing key');
get_is('nocas', undef, 'cas did not create');
reply_is("cas c1 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n", 'cas without unique');
reply_is("cas c1 0 0 1 abc\r\nx\r\n", "${BADFMT}ERROR\r\n", 'cas non-numeric unique');
reply_is("cas c1 0 0 1 -1\r\nx\r\n", "${BADFMT}ERROR\r\n", 'cas negative unique');
reply_is("cas c1 0 0 1 1 2\r\nx\r\n", "EXISTS\r\n", 'cas 7th word ignored');
reply_is("cas c1 0 0 1 1 2 3\r\nx\r\n", "ERROR\r\nERROR\r\n", 'cas 8 words');
reply_is("cas c1 0 0 1 0\r\nx\r\n", "EXISTS\r\n", 'cas unique 0 never matches');
($cas) = MCTest::mem_gets($s, 'c1');
reply_is("cas c1 0 0 1 $cas\r\nxy\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n", 'cas bad chunk');

# ---- noreply on every storage command
($cas) = MCTest::mem_gets($s, 'c1');
reply_is("set n1 0 0 1 noreply\r\na\r\n", '', 'set noreply');
reply_is("add n1 0 0 1 noreply\r\nb\r\n", '', 'add noreply (NOT_STORED hidden)');
reply_is("add n2 0 0 1 noreply\r\nb\r\n", '', 'add noreply');
reply_is("replace n1 0 0 1 noreply\r\nc\r\n", '', 'replace noreply');
reply_is("append n1 0 0 1 noreply\r\nd\r\n", '', 'append noreply');
reply_is("prepend n1 0 0 1 noreply\r\ne\r\n", '', 'prepend noreply');
reply_is("replace n3 0 0 1 noreply\r\nc\r\n", '', 'replace missing noreply');
reply_is("cas c1 0 0 1 $cas noreply\r\nf\r\n", '', 'cas noreply');
reply_is("cas c1 0 0 1 $cas noreply\r\ng\r\n", '', 'cas EXISTS noreply');
reply_is("cas n4 0 0 1 1 noreply\r\ng\r\n", '', 'cas NOT_FOUND noreply');
is(MCTest::sync_reply($s, "get n1 n2 n3 c1 n4\r\n"),
    "VALUE n1 0 3\r\necd\r\nVALUE n2 0 1\r\nb\r\nVALUE c1 0 1\r\nf\r\nEND\r\n", 'noreply commands took effect');
reply_is("set n5 0 0 1 noreply\r\na\r\nset n5 0 0 1 noreply\r\nb\r\nget n5\r\n",
    "VALUE n5 0 1\r\nb\r\nEND\r\n", 'pipelined noreply sets');

# ---- lines longer than 2048 bytes without a newline
{
    my $c = $srv->new_sock;
    MCTest::send_cmd($c, 'set ' . ('x' x 2044));
    is(MCTest::read_all($c, 0.3), '', '2048 bytes without newline: still open, no reply');
    MCTest::send_cmd($c, "\r\n");
    is(MCTest::read_line($c), "ERROR\r\n", 'its completion is just a bad command');
    MCTest::send_cmd($c, 'set ' . ('x' x 2045));
    ok(MCTest::is_closed($c), '2049 bytes without newline: connection closed');
}
{
    my $c = $srv->new_sock;
    MCTest::send_cmd($c, 'set ' . ('x' x 2000));
    is(MCTest::read_all($c, 0.3), '', 'partial long line');
    MCTest::send_cmd($c, 'x' x 100);
    ok(MCTest::is_closed($c), 'long line arriving in pieces: closed once past 2048');
}
{
    my $c = $srv->new_sock;
    is(MCTest::sync_reply($c, "set " . ('k' x 3000) . " 0 0 1\r\nx\r\n"), "${BADFMT}ERROR\r\n",
        'long line that has its newline: processed (key too long)');
}
{
    my $c = $srv->new_sock;
    MCTest::send_cmd($c, (' ' x 101) . 'get ' . ('k' x 3000));
    ok(MCTest::is_closed($c), 'more than 100 leading spaces before get: closed');
}

# The connection used throughout is still healthy.
reply_is("set end 0 0 2\r\nok\r\n", "STORED\r\n", 'main connection still works');
done_testing();
