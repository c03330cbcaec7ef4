package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// dashboardFile is the Grafana dashboard for the metrics this node exports.
const dashboardFile = "../../dashboards/switchyard.json"

// dashboard is the part of a Grafana dashboard that holds queries.
type dashboard struct {
	Title      string      `json:"title"`
	UID        string      `json:"uid"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type dashPanel struct {
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dashDS     `json:"datasource"`
	Panels     []dashPanel `json:"panels"` // a collapsed row's
	Targets    []struct {
		Expr       string  `json:"expr"`
		Datasource *dashDS `json:"datasource"`
	} `json:"targets"`
}

type dashDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// loadDashboard reads the dashboard and returns its queries: every panel
// target's, and the metric of every label_values() variable. It fails the
// test for a panel without queries or not on the dashboard's data source.
func loadDashboard(t *testing.T) (*dashboard, []query) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %s", dashboardFile, err)
	}
	var qs []query
	var walk func([]dashPanel)
	walk = func(panels []dashPanel) {
		for _, p := range panels {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use the dashboard's data source variable", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: a target without a query or data source", p.Title)
				}
				qs = append(qs, query{fmt.Sprintf("panel %q", p.Title), tg.Expr})
			}
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*[a-zA-Z_]\w*\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Definition)
		}
		qs = append(qs, query{"variable $" + v.Name, m[1]})
	}
	return &d, qs
}

// promqlWords are PromQL's words that are not metric names even when no
// parenthesis follows: aggregation operators (a grouping clause may come
// first), binary operators, modifiers and the number literals.
var promqlWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "and": true, "or": true, "unless": true, "atan2": true,
	"bool": true, "offset": true, "inf": true, "nan": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// groupingWords are followed by a parenthesized list of label names.
var groupingWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlMetricNames returns the metric names a PromQL expression selects,
// sorted and without repeats. Function and aggregation names, label names
// in grouping clauses, label matchers, strings, range and subquery
// brackets, numbers and Grafana variables ($name, ${name}) are not metric
// names. A selector without a metric name ({__name__=...}) is an error, as
// is an unbalanced bracket or string: the names it selects cannot be
// checked.
func promqlMetricNames(expr string) ([]string, error) {
	isStart := func(c byte) bool { return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
	isPart := func(c byte) bool { return isStart(c) || ('0' <= c && c <= '9') }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	// closing returns the index after the bracket that closes the one at
	// i, skipping strings.
	closing := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; c {
			case '"', '\'', '`':
				end, err := stringEnd(expr, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case open:
				depth++
			case close:
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %q at %d in %q", open, i, expr)
	}
	names := map[string]bool{}
	lastWasName := false
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := stringEnd(expr, i)
			if err != nil {
				return nil, err
			}
			i, lastWasName = end, false
		case c == '{':
			if !lastWasName {
				return nil, fmt.Errorf("a selector without a metric name at %d in %q", i, expr)
			}
			end, err := closing(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i, lastWasName = end, false
		case c == '[':
			end, err := closing(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i, lastWasName = end, false
		case c == ']' || c == '}':
			return nil, fmt.Errorf("unbalanced %q at %d in %q", c, i, expr)
		case c == '#': // a comment, to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$': // a Grafana variable: $name or ${name}
			i++
			if i < len(expr) && expr[i] == '{' {
				end, err := closing(i, '{', '}')
				if err != nil {
					return nil, err
				}
				i = end
			}
			for i < len(expr) && isPart(expr[i]) {
				i++
			}
			lastWasName = false
		case '0' <= c && c <= '9' || c == '.': // a number or duration
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++
			}
			lastWasName = false
		case isStart(c):
			j := i
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			word, next := expr[i:j], skipSpace(j)
			i, lastWasName = j, false
			switch {
			case next < len(expr) && expr[next] == '(' && !groupingWords[strings.ToLower(word)]:
				// a function or an aggregation
			case groupingWords[strings.ToLower(word)]:
				if next < len(expr) && expr[next] == '(' {
					end, err := closing(next, '(', ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case promqlWords[strings.ToLower(word)]:
			default:
				names[word], lastWasName = true, true
			}
		default:
			i++
			if !strings.ContainsRune(" \t\r\n", rune(c)) {
				lastWasName = false
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// stringEnd returns the index after the string literal that starts at i.
func stringEnd(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d in %q", i, s)
}

func TestPromQLMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (instance, direction) (switchyard_p2p_peers{instance=~"$instance"})`, []string{"switchyard_p2p_peers"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{dir="out", x='}{'}[$__rate_interval])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(x_total[5m])) by (job) / on (job) group_left (name) y:recorded offset 1h`, []string{"x_total", "y:recorded"}},
		{`-sum without(instance)(b) * 2.5e3 > bool 0 and on() c{l="]"} unless d`, []string{"b", "c", "d"}},
		{`max_over_time(rate(m[5m])[1h:1m]) or vector(0)`, []string{"m"}},
		{"e # comment with f_total\n+ g", []string{"e", "g"}},
		{`count(sum by (le) (h_bucket)) + topk(3, i) + ${var}`, []string{"h_bucket", "i"}},
	} {
		got, err := promqlMetricNames(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("promqlMetricNames(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{__name__="x"}`, `sum(x{a="b"`, `rate(x[5m)`, `x{a="b}`, `x]`, `sum({job="a"})`} {
		if got, err := promqlMetricNames(bad); err == nil {
			t.Errorf("promqlMetricNames(%q) = %v, want an error", bad, got)
		}
	}
}

// exported is what a /metrics scrape holds: each family's type, and the
// families that had at least one sample.
type exported struct {
	types   map[string]string
	sampled map[string]bool
}

// scrape reads url's Prometheus text exposition into e.
func (e *exported) scrape(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			e.types[f[2]] = f[3]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		e.sampled[e.family(name)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// family is the family a sample or query name belongs to: a histogram's or
// summary's _bucket, _sum and _count series are its family's.
func (e *exported) family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if typ := e.types[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
			return base
		}
	}
	return name
}

func TestExportedFamiliesFoldHistogramSeries(t *testing.T) {
	e := exported{types: map[string]string{"lat": "histogram", "sz": "summary", "c_count": "counter"}}
	for name, want := range map[string]string{"lat_bucket": "lat", "lat_sum": "lat", "lat_count": "lat", "sz_count": "sz",
		"sz_bucket": "sz_bucket", "c_count": "c_count", "other_bucket": "other_bucket", "lat": "lat"} {
		if got := e.family(name); got != want {
			t.Errorf("family(%q) = %q, want %q", name, got, want)
		}
	}
}

// missing returns the queried metrics (metric → where) that e lacks, with
// where they are queried, sorted.
func (e *exported) missing(queried map[string][]string) []string {
	var out []string
	for name, where := range queried {
		if !e.sampled[e.family(name)] {
			out = append(out, fmt.Sprintf("%s (%s)", name, strings.Join(where, "; ")))
		}
	}
	sort.Strings(out)
	return out
}

func TestMissingNamesTheMetricsNotExported(t *testing.T) {
	e := exported{types: map[string]string{"lat": "histogram", "up": "gauge", "idle": "counter"}, sampled: map[string]bool{"lat": true, "up": true}}
	got := e.missing(map[string][]string{"lat_bucket": {"p1"}, "up": {"p2"}, "idle": {"p3"}, "typo_total": {"p4", "p5"}, "up_count": {"p6"}})
	want := []string{"idle (p3)", "typo_total (p4; p5)", "up_count (p6)"}
	if !slices.Equal(got, want) {
		t.Fatalf("missing = %q, want %q", got, want)
	}
}

// closedPortAddr is a TCP address on 127.0.0.1 where nothing listens, for
// a peer ID nobody has: dials to it fail.
func closedPortAddr(t *testing.T) *p2p.NetAddress {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	h.Close()
	a, err := p2p.ParseNetAddress(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// misbehave connects a plain go-libp2p host (no Switchyard code) to the
// node at addr as a peer (it announces the node's mempool channel), opens
// raw streams until the node's resource manager blocks one (metricsURL
// shows it), then sends a frame whose length varint never ends, for which
// the node bans it.
func misbehave(t *testing.T, addr, metricsURL string, node *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := libp2p.New(libp2p.Transport(tcp.NewTCPTransport), libp2p.NoListenAddrs, libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ch := protocol.ID("/switchyard/switchyard/ch/30/1.0.0")
	h.SetStreamHandler(ch, func(s network.Stream) { io.Copy(io.Discard, s); s.Close() })
	maddr, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	info, err := peer.AddrInfoFromP2pAddr(maddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(ctx, *info); err != nil {
		t.Fatal(err)
	}
	node.out.await(t, `peer \+ .*`+regexp.QuoteMeta(shortID(h.ID().String()))+`.* in`)

	var streams []network.Stream
	defer func() {
		for _, s := range streams {
			s.Reset()
		}
	}()
	for blocked := false; !blocked; {
		if len(streams) >= 4000 {
			t.Fatalf("%d streams opened and the resource manager blocked none", len(streams))
		}
		for range 100 {
			s, err := h.Network().NewStream(network.WithAllowLimitedConn(ctx, "test"), info.ID)
			if err != nil {
				t.Fatalf("stream %d: %s (before the resource manager blocked any)", len(streams)+1, err)
			}
			streams = append(streams, s)
		}
		var e exported
		e.types, e.sampled = map[string]string{}, map[string]bool{}
		e.scrape(t, metricsURL)
		blocked = e.sampled["libp2p_rcmgr_blocked_resources"]
	}

	s, err := h.NewStream(ctx, info.ID, ch)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	t.Logf("%d streams; %s", len(streams), node.out.await(t, `peer - .*`+regexp.QuoteMeta(shortID(h.ID().String()))+`.*: .*`)[0])
}

// TestDashboardQueriesOnlyExportedMetrics runs two nodes with their metrics
// served on 127.0.0.1, makes them do everything the dashboard shows
// (peers, a transaction, a failed dial, a peer the resource manager blocks
// and the node bans), scrapes both, and checks that every metric the
// dashboard queries is exported, and that every Switchyard metric exported
// is on the dashboard.
func TestDashboardQueriesOnlyExportedMetrics(t *testing.T) {
	d, queries := loadDashboard(t)
	if d.UID == "" || d.Title == "" || len(queries) < 10 {
		t.Fatalf("dashboard %q (uid %q) with %d queries", d.Title, d.UID, len(queries))
	}
	queried := map[string][]string{} // metric → where
	for _, q := range queries {
		names, err := promqlMetricNames(q.expr)
		if err != nil {
			t.Fatalf("%s: %s", q.where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
		for _, n := range names {
			queried[n] = append(queried[n], q.where)
		}
	}

	dir := t.TempDir()
	cfgA := localConfig(dir, "a")
	cfgA.MetricsAddr = "127.0.0.1:0"
	a := startNode(t, cfgA)
	addrA := a.out.await(t, `listening on (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)[1]
	urlA := a.out.await(t, `metrics on (http://\S+)`)[1]
	seed, err := p2p.ParseNetAddress(addrA)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := localConfig(dir, "b")
	cfgB.MetricsAddr = "127.0.0.1:0"
	cfgB.Seeds = []*p2p.NetAddress{seed, closedPortAddr(t)}
	b := startNode(t, cfgB)
	urlB := b.out.await(t, `metrics on (http://\S+)`)[1]
	b.out.await(t, `seed .* not reached: `)
	b.out.await(t, `peer \+ .* out`)
	if _, err := io.WriteString(a.stdin, "a tx for the dashboard\n"); err != nil {
		t.Fatal(err)
	}
	b.out.await(t, `tx [0-9a-f]{12} \(22 bytes\)`)
	misbehave(t, addrA, urlA, a)

	e := exported{types: map[string]string{}, sampled: map[string]bool{}}
	e.scrape(t, urlA)
	e.scrape(t, urlB)
	if missing := e.missing(queried); len(missing) > 0 {
		t.Errorf("the dashboard queries metrics the node does not export:\n  %s", strings.Join(missing, "\n  "))
	}
	onDashboard := map[string]bool{}
	for name := range queried {
		onDashboard[e.family(name)] = true
	}
	for name := range e.types {
		if strings.HasPrefix(name, "switchyard_") && !onDashboard[name] {
			t.Errorf("the node exports %s and the dashboard does not show it", name)
		}
	}
	// The figures the dashboard is for are all there.
	for _, want := range []string{
		"switchyard_p2p_peers", "switchyard_p2p_channel_bytes_total", "switchyard_p2p_channel_messages_total",
		"switchyard_p2p_send_queue_messages", "switchyard_p2p_recv_queue_messages", "switchyard_p2p_dials_total",
		"switchyard_p2p_peer_penalties_total", "libp2p_rcmgr_connections", "libp2p_rcmgr_streams",
		"libp2p_rcmgr_memory", "libp2p_rcmgr_blocked_resources", "libp2p_swarm_connections_opened_total",
	} {
		if len(queried[want]) == 0 {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	if t.Failed() {
		t.Logf("exported: %v", slices.Sorted(maps.Keys(e.sampled)))
	}
}
