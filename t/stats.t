#!/usr/bin/perl
# The stats family: "stats" field names, order and counters; "stats
# settings" names, order and values; items, slabs, sizes, conns, detail,
# cachedump; error replies for bad subcommands.

use strict;
use warnings;
use Test::More;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MCTest;
use Config;

# Field order of memcached 1.6.18's "stats" (no extstore, no idle_timeout).
my @STATS = qw(
    pid uptime time version libevent pointer_size rusage_user rusage_system max_connections
    curr_connections total_connections rejected_connections connection_structures response_obj_oom
    response_obj_count response_obj_bytes read_buf_count read_buf_bytes read_buf_bytes_free
    read_buf_oom reserved_fds cmd_get cmd_set cmd_flush cmd_touch cmd_meta get_hits get_misses
    get_expired get_flushed delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits
    cas_misses cas_hits cas_badval touch_hits touch_misses store_too_large store_no_memory auth_cmds
    auth_errors bytes_read bytes_written limit_maxbytes accepting_conns listen_disabled_num
    time_in_listen_disabled_us threads conn_yields hash_power_level hash_bytes hash_is_expanding
    slab_reassign_rescues slab_reassign_chunk_rescues slab_reassign_evictions_nomem
    slab_reassign_inline_reclaim slab_reassign_busy_items slab_reassign_busy_deletes
    slab_reassign_running slabs_moved lru_crawler_running lru_crawler_starts lru_maintainer_juggles
    malloc_fails log_worker_dropped log_worker_written log_watcher_skipped log_watcher_sent
    log_watchers unexpected_napi_ids round_robin_fallback bytes curr_items total_items
    slab_global_page_pool expired_unfetched evicted_unfetched evicted_active evictions reclaimed
    crawler_reclaimed crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm
    moves_within_lru direct_reclaims lru_bumps_dropped
);
my @ITEMS = qw(
    number number_hot number_warm number_cold age_hot age_warm age mem_requested evicted
    evicted_nonzero evicted_time outofmemory tailrepairs reclaimed expired_unfetched
    evicted_unfetched evicted_active crawler_reclaimed crawler_items_checked lrutail_reflocked
    moves_to_cold moves_to_warm moves_within_lru direct_reclaims hits_to_hot hits_to_warm
    hits_to_cold hits_to_temp
);
my @SLABS = qw(
    chunk_size chunks_per_page total_pages total_chunks used_chunks free_chunks free_chunks_end
    get_hits cmd_set delete_hits incr_hits decr_hits cas_hits cas_badval touch_hits
);
# "stats settings" of a server started with no extra options: name, value.
my $SETTINGS = <<'END_SETTINGS';
    maxbytes 67108864
    maxconns 1024
    tcpport 39133
    udpport 0
    inter 127.0.0.1
    verbosity 0
    oldest 0
    evictions on
    domain_socket NULL
    umask 700
    shutdown_command no
    growth_factor 1.25
    chunk_size 48
    num_threads 4
    num_threads_per_udp 4
    stat_key_prefix :
    detail_enabled no
    reqs_per_event 20
    cas_enabled yes
    tcp_backlog 1024
    binding_protocol auto-negotiate
    auth_enabled_sasl no
    auth_enabled_ascii no
    item_size_max 1048576
    maxconns_fast yes
    hashpower_init 0
    slab_reassign yes
    slab_automove 1
    slab_automove_ratio 0.80
    slab_automove_window 30
    slab_chunk_max 524288
    lru_crawler yes
    lru_crawler_sleep 100
    lru_crawler_tocrawl 0
    tail_repair_time 0
    flush_enabled yes
    dump_enabled yes
    hash_algorithm murmur3
    lru_maintainer_thread yes
    lru_segmented yes
    hot_lru_pct 20
    warm_lru_pct 40
    hot_max_factor 0.20
    warm_max_factor 2.00
    temp_lru no
    temporary_ttl 61
    idle_timeout 0
    watcher_logbuf_size 262144
    worker_logbuf_size 65536
    read_buf_mem_limit 0
    track_sizes no
    inline_ascii_response no
    ext_item_size 512
    ext_item_age 4294967295
    ext_low_ttl 0
    ext_recache_rate 2000
    ext_wbuf_size 4194304
    ext_compact_under 0
    ext_drop_under 0
    ext_max_sleep 1000000
    ext_max_frag 0.80
    slab_automove_freeratio 0.010
    ext_drop_unread no
    ssl_enabled no
    ssl_chain_cert (null)
    ssl_key (null)
    ssl_verify_mode 0
    ssl_keyformat 1
    ssl_ciphers NULL
    ssl_ca_cert NULL
    ssl_wbuf_size 16384
    ssl_session_cache no
    ssl_kernel_tls no
    ssl_min_version tlsv1.2
    num_napi_ids (null)
    memory_file (null)
END_SETTINGS

sub reply_is {
    my ($sock, $raw, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is(MCTest::sync_reply($sock, $raw), $want, $name);
}

sub names { return [map { $_->[0] } @{ $_[0] // [] }] }

# Names our server adds beyond the reference (documented in doc/tls.md and
# doc/options.md). They are checked to exist on ours, then left out of the
# comparison with the reference's list and order.
my %OUR_STATS = map { $_ => 1 } qw(ssl_proto_errors ssl_handshake_timeouts conns_output_overflow);
my %OUR_SETTINGS = map { $_ => 1 } qw(ssl_ciphersuites ssl_handshake_timeout conn_output_limit batch_wait_us);

sub without_ours {
    my ($list, $ours) = @_;
    my @rest = grep { !$ours->{ $_->[0] } } @{ $list // [] };
    return \@rest;
}

my $tls = MCTest::is_tls();
my $listeners = $tls ? 2 : 1;   # MCTest adds a notls listener under TLS
my $srv = MCTest::new_server();
my $s = $srv->sock;

# ---- general stats: names and order
{
    my $all = MCTest::mem_stats_list($s);
    my $list = without_ours($all, \%OUR_STATS);
    if ($tls && !MCTest::is_reference()) {
        ok((grep { $_ eq 'ssl_proto_errors' } @{ names($all) }), 'ours: ssl_proto_errors reported');
        ok((grep { $_ eq 'ssl_handshake_timeouts' } @{ names($all) }),
           'ours: ssl_handshake_timeouts reported');
    }
    my @want = @STATS;
    if ($tls) {
        my ($i) = grep { $want[$_] eq 'log_watchers' } 0 .. $#want;
        splice(@want, $i + 1, 0, qw(ssl_handshake_errors time_since_server_cert_refresh));
    }
    is_deeply(names($list), \@want, 'stats: field names in reference order');
    my %st = map { @$_ } @{ $list // [] };
    is($st{pid}, $srv->pid, 'pid is the server pid');
    like($st{uptime}, qr/^\d+$/, 'uptime numeric');
    cmp_ok(abs($st{time} - time()), '<=', 2, 'time is now');
    like($st{version}, qr/^\d+\.\d+\.\d+/, 'version');
    is($st{version}, '1.6.18', 'reference version') if MCTest::is_reference();
    like($st{libevent}, qr/^\S+$/, 'libevent version string');
    is($st{pointer_size}, 8 * $Config{ptrsize}, 'pointer_size in bits');
    like($st{rusage_user}, qr/^\d+\.\d{6}$/, 'rusage_user has 6 decimals');
    like($st{rusage_system}, qr/^\d+\.\d{6}$/, 'rusage_system has 6 decimals');
    is($st{max_connections}, 1024, 'max_connections default');
    # MCTest's start-up probe connection may still be in flight: poll.
    is(MCTest::wait_for_stat($s, '', 'curr_connections', sub { $_[0] == $listeners }, 3),
        1 + $listeners - 1, 'curr_connections = clients + listeners - 1');
    is(MCTest::wait_for_stat($s, '', 'total_connections', sub { $_[0] == $listeners + 2 }, 3),
        2 + $listeners, 'total_connections = listeners + accepted (probe, us)');
    is($st{rejected_connections}, 0, 'rejected_connections');
    is($st{threads}, 4, 'threads default 4');
    is($st{reserved_fds}, 20, 'reserved_fds = 5 per thread');
    is($st{limit_maxbytes}, 64 * 1024 * 1024, 'limit_maxbytes default 64 MB');
    is($st{accepting_conns}, 1, 'accepting_conns');
    is($st{hash_power_level}, 16, 'hash_power_level default');
    is($st{hash_bytes}, 8 << 16, 'hash_bytes = 8 * 2^hashpower');
    is($st{hash_is_expanding}, 0, 'hash_is_expanding');
    is_deeply([@st{qw(cmd_get cmd_set cmd_flush cmd_touch cmd_meta get_hits get_misses curr_items total_items bytes evictions)}],
        [(0) x 11], 'fresh server: counters at zero');
    is($st{bytes_read}, length("stats\r\n"), 'bytes_read counts the stats command itself');
    is($st{bytes_written}, 0, 'bytes_written not yet counting this reply');
}

# ---- idle_timeout adds idle_kicks after auth_errors
{
    my $i = MCTest::new_server('-o idle_timeout=60');
    my @n = @{ names(MCTest::mem_stats_list($i->sock)) };
    my ($p) = grep { $n[$_] eq 'idle_kicks' } 0 .. $#n;
    ok(defined $p && $n[$p - 1] eq 'auth_errors' && $n[$p + 1] eq 'bytes_read',
        'idle_kicks appears between auth_errors and bytes_read with -o idle_timeout');
    ok(!grep({ $_ eq 'idle_kicks' } @{ names(MCTest::mem_stats_list($s)) }), 'and not without');
}

# ---- counters
{
    my $c = $srv->new_sock;
    my $b = MCTest::mem_stats($c);
    MCTest::sync_reply($c, "set a 0 0 1\r\nx\r\nset bb 0 0 10\r\n0123456789\r\nadd a 0 0 1\r\ny\r\n"
        . "get a bb nope\r\nget nope2\r\ndelete bb\r\n");
    my $a = MCTest::mem_stats($c);
    my %d = map { $_ => $a->{$_} - $b->{$_} } qw(cmd_get cmd_set get_hits get_misses curr_items total_items
        delete_hits);
    is_deeply(\%d, { cmd_get => 4, cmd_set => 3, get_hits => 2, get_misses => 2, curr_items => 1,
        total_items => 2, delete_hits => 1 }, 'counters after a mixed batch (failed add counts in cmd_set)');
    # Item size accounting: 48-byte header + key + 1 + value + 2 + 8 (cas).
    is($a->{bytes}, 48 + 1 + 1 + 1 + 2 + 8, 'bytes for one item "a" = "x"');
    MCTest::sync_reply($c, "set ccc 0 0 100\r\n" . ('z' x 100) . "\r\n");
    is(MCTest::mem_stats($c)->{bytes}, 61 + 48 + 3 + 1 + 100 + 2 + 8, 'bytes grows by the item size');
    MCTest::sync_reply($c, "delete a\r\ndelete ccc\r\n");
    is(MCTest::mem_stats($c)->{bytes}, 0, 'bytes back to 0 after deletes');
    is(MCTest::mem_stats($c)->{curr_items}, 0, 'curr_items back to 0');
}

# ---- bytes_read / bytes_written are exact per byte
{
    my $x = MCTest::new_server();
    my $c = $x->sock;
    my $first = MCTest::mem_stats_list($c);
    my $first_len = length(join('', map { "STAT $_->[0] $_->[1]\r\n" } @$first)) + length("END\r\n");
    my $cmds = "set k 0 0 5\r\nhello\r\nget k\r\n";
    is(MCTest::sync_reply($c, $cmds), "STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n", 'traffic');
    my $st = MCTest::mem_stats($c);
    my $ver = "VERSION $st->{version}\r\n";
    is($st->{bytes_read}, 2 * length("stats\r\n") + length($cmds) + length("version\r\n"), 'bytes_read exact');
    is($st->{bytes_written}, $first_len + length("STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n") + length($ver),
        'bytes_written exact');
}

# ---- connection counters
{
    my $b = MCTest::mem_stats($s);
    my @c = map { $srv->new_sock } 1 .. 3;
    MCTest::cmd_line($_, "version\r\n") for @c;
    my $a = MCTest::mem_stats($s);
    is($a->{curr_connections} - $b->{curr_connections}, 3, 'curr_connections +3');
    is($a->{total_connections} - $b->{total_connections}, 3, 'total_connections +3');
    close $_ for @c;
    my $v = MCTest::wait_for_stat($s, '', 'curr_connections', sub { $_[0] == $b->{curr_connections} }, 3);
    is($v, $b->{curr_connections}, 'curr_connections back down after close');
    is(MCTest::mem_stats($s)->{total_connections}, $a->{total_connections}, 'total_connections stays');
}

# ---- stats settings
{
    my $all = MCTest::mem_stats_list($s, 'settings');
    my $list = without_ours($all, \%OUR_SETTINGS);
    if (!MCTest::is_reference()) {
        ok((grep { $_ eq 'ssl_ciphersuites' } @{ names($all) }), 'ours: ssl_ciphersuites in stats settings');
    }
    my @want = map { [split / /, $_, 2] } grep { length } map { s/^\s+//r } split /\n/, $SETTINGS;
    my %got = map { @$_ } @{ $list // [] };
    is_deeply(names($list), [map { $_->[0] } @want], 'stats settings: names in reference order');
    for my $w (@want) {
        my ($n, $v) = @$w;
        if ($n eq 'tcpport') { $v = $srv->port }
        elsif ($n eq 'inter') {
            $v = $tls ? 'notls:127.0.0.1:' . $srv->plain_port . ',127.0.0.1:' . $srv->port : '127.0.0.1';
        }
        elsif ($n eq 'num_threads_per_udp') { $v = $tls ? 1 : 4 }   # 1 when -l lists several addresses
        elsif ($tls && $n eq 'ssl_enabled') { $v = 'yes' }
        elsif ($tls && $n eq 'ssl_chain_cert') { $v = MCTest::cert_dir() . '/server_crt.pem' }
        elsif ($tls && $n eq 'ssl_key') { $v = MCTest::cert_dir() . '/server_key.pem' }
        is($got{$n}, $v, "settings $n");
    }
}

# ---- stats settings with non-default options
{
    my $x = MCTest::new_server('-m 128 -c 500 -t 2 -f 1.5 -n 64 -R 5 -b 512 -I 2m -C -F -X -D / -A -M '
        . '-o idle_timeout=7,hashpower=18,tail_repair_time=30,lru_crawler_sleep=50,lru_crawler_tocrawl=5,'
        . 'hot_lru_pct=10,warm_lru_pct=30,temporary_ttl=30,track_sizes,no_maxconns_fast,hash_algorithm=jenkins,'
        . 'watcher_logbuf_size=128,worker_logbuf_size=128,read_buf_mem_limit=16,hot_max_factor=0.3,'
        . 'warm_max_factor=3.0');
    my $st = MCTest::mem_stats($x->sock, 'settings');
    my %want = (
        maxbytes => 134217728, maxconns => 500, evictions => 'off', shutdown_command => 'yes',
        growth_factor => '1.50', chunk_size => 64, num_threads => 2, stat_key_prefix => '/',
        detail_enabled => 'yes', reqs_per_event => 5, cas_enabled => 'no', tcp_backlog => 512,
        item_size_max => 2097152, maxconns_fast => 'no', hashpower_init => 18, lru_crawler_sleep => 50,
        lru_crawler_tocrawl => 5, tail_repair_time => 30, flush_enabled => 'no', dump_enabled => 'no',
        hash_algorithm => 'jenkins', hot_lru_pct => 10, warm_lru_pct => 30, hot_max_factor => '0.30',
        warm_max_factor => '3.00', temp_lru => 'yes', temporary_ttl => 30, idle_timeout => 7,
        watcher_logbuf_size => 131072, worker_logbuf_size => 131072, read_buf_mem_limit => 16777216,
        track_sizes => 'yes',
    );
    is_deeply({ map { $_ => $st->{$_} } keys %want }, \%want, 'stats settings reflect the command line');
    my $g = MCTest::mem_stats($x->sock);
    is($g->{threads}, 2, 'stats threads follows -t');
    is($g->{reserved_fds}, 10, 'reserved_fds follows -t');
    is($g->{max_connections}, 500, 'max_connections follows -c');
    is($g->{limit_maxbytes}, 134217728, 'limit_maxbytes follows -m');
    is($g->{hash_power_level}, 18, 'hash_power_level follows hashpower');
    is($g->{hash_bytes}, 8 << 18, 'hash_bytes follows hashpower');
}

# ---- stats items / slabs
{
    my $x = MCTest::new_server();
    my $c = $x->sock;
    reply_is($c, "stats items\r\n", "END\r\n", 'stats items with no items: just END');
    my $sl0 = MCTest::mem_stats_list($c, 'slabs');
    is_deeply($sl0, [['active_slabs', 0], ['total_malloced', 0]], 'stats slabs with no items');
    MCTest::sync_reply($c, "set a 0 0 1\r\nx\r\nget a\r\n");
    my $it = MCTest::mem_stats_list($c, 'items');
    is_deeply(names($it), [map { "items:1:$_" } @ITEMS], 'stats items: names and order for class 1');
    my %it = map { @$_ } @{ $it // [] };
    is($it{'items:1:number'}, 1, 'items:1:number');
    is($it{'items:1:mem_requested'}, 61, 'items:1:mem_requested is the item size');
    is($it{'items:1:evicted'}, 0, 'items:1:evicted');
    my $sl = MCTest::mem_stats_list($c, 'slabs');
    is_deeply(names($sl), [(map { "1:$_" } @SLABS), 'active_slabs', 'total_malloced'], 'stats slabs: names and order');
    my %sl = map { @$_ } @{ $sl // [] };
    is($sl{'1:chunk_size'}, 96, 'class 1 chunk size 96');
    is($sl{'1:chunks_per_page'}, 10922, 'class 1 chunks per 1 MB page');
    is($sl{'1:total_pages'}, 1, 'one page');
    is($sl{'1:used_chunks'}, 1, 'one chunk used');
    is($sl{'1:free_chunks'}, 10921, 'the rest free');
    is($sl{'1:get_hits'}, 1, 'per-slab get_hits');
    is($sl{'1:cmd_set'}, 1, 'per-slab cmd_set');
    is($sl{active_slabs}, 1, 'active_slabs');
    is($sl{total_malloced}, 1048576, 'total_malloced one page');
    MCTest::sync_reply($c, "set big 0 0 1000\r\n" . ('b' x 1000) . "\r\n");
    my %it2 = %{ MCTest::mem_stats($c, 'items') };
    my @classes = sort { $a <=> $b } map { /^items:(\d+):number$/ ? $1 : () } keys %it2;
    is(scalar(@classes), 2, 'a 1000-byte value lands in a second class');
    is(MCTest::mem_stats($c, 'slabs')->{active_slabs}, 2, 'active_slabs 2');
    my $ix = MCTest::mem_stats_list($c, 'items extra words');
    is_deeply(names($ix), names(MCTest::mem_stats_list($c, 'items')), 'extra words after items ignored');
}

# ---- stats sizes
{
    my $x = MCTest::new_server();
    my $c = $x->sock;
    reply_is($c, "stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n", 'stats sizes disabled by default');
    reply_is($c, "stats sizes_enable\r\n", "STAT sizes_status enabled\r\n", 'sizes_enable: one line, no END');
    MCTest::sync_reply($c, "set a 0 0 1\r\nx\r\nset b 0 0 100\r\n" . ('x' x 100) . "\r\n");
    reply_is($c, "stats sizes\r\n", "STAT 64 1\r\nSTAT 160 1\r\nEND\r\n", 'sizes histogram in 32-byte buckets');
    reply_is($c, "stats sizes_disable\r\n", "STAT sizes_status disabled\r\n", 'sizes_disable: no END');
    reply_is($c, "stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n", 'disabled again');
    my $y = MCTest::new_server('-o track_sizes');
    reply_is($y->sock, "set a 0 0 1\r\nx\r\nstats sizes\r\n", "STORED\r\nSTAT 64 1\r\nEND\r\n", '-o track_sizes');
}

# ---- stats conns
{
    my $lines = MCTest::sync_reply($s, "stats conns\r\n") // '';
    my @l = split /(?<=\r\n)/, $lines;
    is($l[-1], "END\r\n", 'stats conns ends with END');
    pop @l;
    my @bad = grep { !/^STAT \d+:(addr|listen_addr|state|secs_since_last_cmd) \S+\r\n\z/ } @l;
    is_deeply(\@bad, [], 'every stats conns line is STAT <fd>:<field> <value>');
    my %by;
    for (@l) { /^STAT (\d+):(\S+) (\S+)\r\n/ and $by{$1}{$2} = $3 }
    my @listen = grep { ($by{$_}{state} // '') eq 'conn_listening' } keys %by;
    is(scalar(@listen), $listeners, 'one entry per listener, state conn_listening');
    ok(grep({ $by{$_}{addr} eq 'tcp:127.0.0.1:' . $srv->port } @listen), 'listener addr tcp:127.0.0.1:<port>');
    my $me = 'tcp:127.0.0.1:' . $s->sockport;
    my ($mine) = grep { ($by{$_}{addr} // '') eq $me } keys %by;
    ok(defined $mine, 'our own connection is listed by its address');
    if (defined $mine) {
        is($by{$mine}{listen_addr}, 'tcp:127.0.0.1:' . $srv->port, 'with the listener it came through');
        is($by{$mine}{state}, 'conn_parse_cmd', 'while running stats its state is conn_parse_cmd');
        like($by{$mine}{secs_since_last_cmd}, qr/^\d+$/, 'secs_since_last_cmd');
        my @order = map { /^STAT \Q$mine\E:(\S+)/ ? $1 : () } @l;
        is_deeply(\@order, [qw(addr listen_addr state secs_since_last_cmd)], 'field order for a client');
    }
}

# ---- stats detail
{
    my $x = MCTest::new_server();
    my $c = $x->sock;
    my $usage = "CLIENT_ERROR usage: stats detail on|off|dump\r\n";
    reply_is($c, "stats detail\r\n", $usage, 'stats detail without argument');
    reply_is($c, "stats detail foo\r\n", $usage, 'stats detail bad argument');
    reply_is($c, "stats detail dump\r\n", "END\r\n", 'dump while empty');
    reply_is($c, "stats detail on\r\n", "OK\r\n", 'detail on');
    is(MCTest::mem_stats($c, 'settings')->{detail_enabled}, 'yes', 'detail_enabled yes');
    MCTest::sync_reply($c, "set p:a 0 0 1\r\nx\r\nget p:a p:b\r\ndelete p:a\r\nget plain\r\n");
    reply_is($c, "stats detail dump\r\n", "PREFIX p get 2 hit 1 set 1 del 1\r\nEND\r\n",
        'dump: per-prefix counts; keys without the delimiter are not recorded');
    MCTest::sync_reply($c, "get q:z\r\n");
    my $d = MCTest::sync_reply($c, "stats detail dump\r\n") // '';
    is(join('', sort split /(?<=\r\n)/, $d),
        join('', sort("PREFIX p get 2 hit 1 set 1 del 1\r\n", "PREFIX q get 1 hit 0 set 0 del 0\r\n", "END\r\n")),
        'second prefix added');
    reply_is($c, "stats detail off\r\n", "OK\r\n", 'detail off');
    MCTest::sync_reply($c, "get p:a\r\n");
    is(MCTest::sync_reply($c, "stats detail dump\r\n"), $d, 'off stops counting but keeps the data');
}

# ---- stats cachedump
{
    my $x = MCTest::new_server();
    my $c = $x->sock;
    my $exp = time() + 100;
    MCTest::sync_reply($c, "set a 0 0 1\r\nx\r\nset bb 0 0 2\r\nxx\r\nset c 0 100 3\r\nxyz\r\n");
    # cachedump walks only the COLD LRU: new items show up once the LRU
    # maintainer has moved them there, so poll for a moment.
    my $d = '';
    for (1 .. 40) {
        $d = MCTest::sync_reply($c, "stats cachedump 1 0\r\n") // '';
        last if ($d =~ tr/\n//) >= 4;
        select(undef, undef, undef, 0.05);
    }
    like($d, qr/\AITEM c \[3 b; (\d+) s\]\r\nITEM bb \[2 b; 0 s\]\r\nITEM a \[1 b; 0 s\]\r\nEND\r\n\z/,
        'cachedump: newest first, size and absolute expiry');
    my ($t) = $d =~ /ITEM c \[3 b; (\d+) s\]/;
    ok(defined $t && abs($t - $exp) <= 2, 'cachedump expiry is a unix time');
    like(MCTest::sync_reply($c, "stats cachedump 1 1\r\n"), qr/\AITEM c \[3 b; \d+ s\]\r\nEND\r\n\z/, 'limit 1');
    reply_is($c, "stats cachedump 99 1\r\n", "CLIENT_ERROR Illegal slab id\r\n", 'bad class');
    reply_is($c, "stats cachedump x 1\r\n", "CLIENT_ERROR bad command line format\r\n", 'non-numeric class');
    reply_is($c, "stats cachedump\r\n", "CLIENT_ERROR bad command line\r\n", 'no arguments');
    my $y = MCTest::new_server('-X');
    reply_is($y->sock, "stats cachedump 1 1\r\n", "CLIENT_ERROR stats cachedump not allowed\r\n", '-X disables it');
}

# ---- bad subcommands
reply_is($s, "stats foo\r\n", "ERROR\r\n", 'unknown stats subcommand');
reply_is($s, "stats a b c d e f\r\n", "ERROR\r\n", 'unknown subcommand with words');
reply_is($s, "STATS\r\n", "ERROR\r\n", 'upper case');
{
    my $l = MCTest::sync_reply($s, "stats  \r\n") // '';
    like($l, qr/\ASTAT pid \d+\r\n.*END\r\n\z/s, '"stats  " with trailing spaces is plain stats');
}

done_testing();
