#!/usr/bin/perl
# Drives one of the two Debian Perl memcached clients against a fresh server
# and prints a transcript of the client-visible results; t/compat_clients.t
# compares it with t/compat/<module>.expected, recorded against memcached
# 1.6.18. Cache::Memcached is pure Perl (one request at a time, Storable
# flags, compression), Cache::Memcached::Fast is XS (pipelines multi-key
# calls, noreply via nowait, gat/gats, cas_multi), so between them they put
# quite different byte streams on the wire.
#
# Usage: perl_clients.pl fast|classic HOST PORT
use strict;
use warnings;

my ($which, $host, $port) = @ARGV;
die "usage: $0 fast|classic HOST PORT\n" unless defined $port;
$| = 1;

sub show {
    my ($v) = @_;
    return 'undef' unless defined $v;
    if (ref $v eq 'HASH') {
        return '{' . join(', ', map { "$_: " . show($v->{$_}) } sort keys %$v) . '}';
    }
    if (ref $v eq 'ARRAY') {
        return '[' . join(', ', map { show($_) } @$v) . ']';
    }
    return '<' . length($v) . ' bytes>' if length $v > 64;
    (my $s = $v) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return "'$s'";
}

sub out { print "$_[0] => ", show($_[1]), "\n" }

sub call {
    my ($name, $code) = @_;
    my $r = eval { $code->() };
    $r = 'DIED' if $@;
    out($name, $r);
    return $r;
}

my $big = join('', map { chr(($_ * 11) & 0xff) } 0 .. 255) x 3900;   # 998400 bytes
my $bin = join('', map { chr } 0 .. 255) x 4;

sub common {
    my ($m) = @_;
    call('get missing', sub { $m->get('nope') });
    call('set', sub { $m->set('a', 'hello') });
    call('get', sub { $m->get('a') });
    call('set ref (Storable flag)', sub { $m->set('r', { x => [1, 2] }) });
    call('get ref', sub { my $r = $m->get('r'); $r && $r->{x}[1] });
    call('add existing', sub { $m->add('a', 'x') });
    call('add new', sub { $m->add('b', 'bee') });
    call('replace missing', sub { $m->replace('zz', 'x') });
    call('replace existing', sub { $m->replace('b', 'BEE') });
    call('append', sub { $m->append('a', ' world') });
    call('prepend', sub { $m->prepend('a', '>> ') });
    call('append missing', sub { $m->append('zz', 'x') });
    call('get appended', sub { $m->get('a') });
    call('set num', sub { $m->set('n', 10) });
    call('incr', sub { $m->incr('n', 5) });
    call('incr default 1', sub { $m->incr('n') });
    call('decr', sub { $m->decr('n', 3) });
    call('decr below zero', sub { $m->decr('n', 100) });
    call('incr missing', sub { $m->incr('zz', 1) });
    call('incr non-numeric', sub { $m->incr('a', 1) });
    call('set max64', sub { $m->set('w', '18446744073709551615') });
    call('incr wraps', sub { $m->incr('w', 1) });
    call('set binary', sub { $m->set('bin', $bin) });
    call('binary roundtrip', sub { ($m->get('bin') // '') eq $bin ? 1 : 0 });
    call('set crlf', sub { $m->set('crlf', "x\r\nEND\r\n") });
    call('get crlf', sub { $m->get('crlf') });
    call('set large', sub { $m->set('large', $big) });
    call('large roundtrip', sub { ($m->get('large') // '') eq $big ? 1 : 0 });
    call('set too large', sub { $m->set('large', $big x 2) });
    call('get after too large', sub { $m->get('large') });
    call('set after too large', sub { $m->set('after', 'ok') });
    call('get after', sub { $m->get('after') });
    call('set expired', sub { $m->set('exp', 'x', -1) });
    call('get expired', sub { $m->get('exp') });
    call('set 250-byte key', sub { $m->set('k' x 250, 'long') });
    call('get 250-byte key', sub { $m->get('k' x 250) });
    my %many = map { ("many:$_" => "value-$_") } 1 .. 1000;
    my $ok = 1;
    $ok &&= $m->set($_, $many{$_}) for sort keys %many;
    out('set 1000', $ok ? 1 : 0);
    my $h = $m->get_multi(keys %many, 'many:missing');
    out('get_multi 1000', [scalar(keys %$h),
        (grep { ($h->{$_} // '') ne $many{$_} } keys %many) ? 0 : 1]);
    call('delete hit', sub { $m->delete('b') });
    call('delete miss', sub { $m->delete('b') });
}

sub fast_only {
    my ($m) = @_;
    my $g = $m->gets('a');
    out('gets', $g && $g->[1]);
    call('cas ok', sub { $m->cas('a', $g->[0], 'casval') });
    call('cas stale', sub { $m->cas('a', $g->[0], 'x') });
    call('cas missing', sub { $m->cas('zz', $g->[0], 'x') });
    call('get after cas', sub { $m->get('a') });
    my $gm = $m->gets_multi('a', 'n', 'zz');
    out('gets_multi keys', [sort keys %$gm]);
    call('touch hit', sub { $m->touch('a', 100) });
    call('touch miss', sub { $m->touch('zz', 100) });
    call('gat hit', sub { $m->gat(100, 'a') });
    call('gat miss', sub { $m->gat(100, 'zz') });
    my $gs = $m->gats(100, 'a');
    out('gats', $gs && $gs->[1]);
    out('gat_multi', $m->gat_multi(100, 'a', 'n', 'zz'));
    out('set_multi', [$m->set_multi(['m1', 'x'], ['m2', 'y'], ['m3', 'z'])]);
    out('add_multi', [$m->add_multi(['m1', 'x'], ['m4', 'w'])]);
    out('incr_multi', [$m->incr_multi('n', ['zz', 2], 'a')]);
    out('delete_multi', [$m->delete_multi('m1', 'm2', 'nomore')]);
    out('touch_multi', [$m->touch_multi(['m3', 100], ['nomore', 100])]);
    out('get_multi after', $m->get_multi('m1', 'm2', 'm3', 'm4'));
    out('server_versions', [values %{ $m->server_versions }]);
    # nowait: stores are sent with noreply; nowait_push waits for the rest.
    my $nw = Cache::Memcached::Fast->new({ servers => ["$host:$port"],
        nowait => 1, io_timeout => 2, connect_timeout => 2 });
    $nw->set("nw$_", "v$_") for 1 .. 300;
    $nw->delete('nw1');
    $nw->incr('zz');
    $nw->nowait_push;
    my $got = $nw->get_multi(map { "nw$_" } 1 .. 300);
    out('nowait stores visible', [scalar(keys %$got), exists $got->{nw1} ? 1 : 0]);
    my $nr = Cache::Memcached::Fast->new({ servers => [{ address => "$host:$port",
        noreply => 1 }], io_timeout => 2, connect_timeout => 2 });
    $nr->set("nr$_", $_) for 1 .. 100;
    $nr->incr('nr5', 10);
    $nr->delete('nr1');
    out('noreply server', [$nr->get('nr5'), $nr->get('nr1'), $nr->get('nr100')]);
    call('flush_all', sub { [values %{ $m->flush_all }] });
    call('get after flush', sub { $m->get('a') });
}

sub classic_only {
    my ($m) = @_;
    my $s = $m->stats(['misc']);
    my $h = $s->{hosts}{"$host:$port"}{misc} // {};
    out('stats misc version', $h->{version});
    out('stats misc has pid', exists $h->{pid} ? 1 : 0);
    out('stats total has cmd_get', exists $s->{total}{cmd_get} ? 1 : 0);
    my $all = $m->stats(['malloc', 'sizes', 'self', 'maps', 'items', 'slabs']);
    for my $t (qw(malloc sizes self maps items slabs)) {
        my $v = $all->{hosts}{"$host:$port"}{$t};
        out("stats $t", defined $v ? ($v eq '' ? 'empty' : 'text') : 'undef');
    }
    $m->enable_compress(1);
    $m->set_compress_threshold(10_000);
    call('set compressible', sub { $m->set('cz', 'abc' x 100_000) });
    call('compressed roundtrip', sub { ($m->get('cz') // '') eq 'abc' x 100_000 ? 1 : 0 });
    call('flush_all', sub { $m->flush_all });
    call('get after flush', sub { $m->get('a') });
}

my $m;
if ($which eq 'fast') {
    require Cache::Memcached::Fast;
    $m = Cache::Memcached::Fast->new({ servers => ["$host:$port"],
        io_timeout => 2, connect_timeout => 2, close_on_error => 1 });
    common($m);
    fast_only($m);
} else {
    require Cache::Memcached;
    $m = Cache::Memcached->new({ servers => ["$host:$port"],
        connect_timeout => 2, select_timeout => 2 });
    common($m);
    classic_only($m);
}
print "done\n";
