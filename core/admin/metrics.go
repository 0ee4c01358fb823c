package admin

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bulwark/core/event"
)

// metrics are the admin plane's own counters plus verdict counts seen on the bus.
type metrics struct {
	mu           sync.Mutex
	requests     map[string]uint64 // "route\x00code"
	reqSeconds   float64
	verdicts     map[[2]string]uint64 // kind, action
	authFailures atomic.Uint64
	streamGaps   atomic.Uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[string]uint64{}, verdicts: map[[2]string]uint64{}}
}

func (m *metrics) countRequest(route string, code int, d time.Duration) {
	m.mu.Lock()
	m.requests[fmt.Sprintf("%s\x00%d", route, code)]++
	m.reqSeconds += d.Seconds()
	m.mu.Unlock()
}

func (m *metrics) countEvent(e event.Event) {
	m.mu.Lock()
	m.verdicts[[2]string{string(e.Kind), string(e.Action)}]++
	m.mu.Unlock()
}

func escLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, k, escLabel(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// serveMetrics writes the Prometheus text exposition format (version 0.0.4).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	var all []Metric
	s.metrics.mu.Lock()
	for k, v := range s.metrics.requests {
		route, code, _ := strings.Cut(k, "\x00")
		all = append(all, Metric{Name: "bulwark_admin_requests_total", Help: "Admin API requests by route and status.", Type: "counter", Labels: map[string]string{"route": route, "code": code}, Value: float64(v)})
	}
	all = append(all, Metric{Name: "bulwark_admin_request_seconds_total", Help: "Time spent answering admin API requests.", Type: "counter", Value: s.metrics.reqSeconds})
	for k, v := range s.metrics.verdicts {
		all = append(all, Metric{Name: "bulwark_verdicts_total", Help: "Events (verdicts) by kind and action.", Type: "counter", Labels: map[string]string{"kind": k[0], "action": k[1]}, Value: float64(v)})
	}
	s.metrics.mu.Unlock()
	all = append(all,
		Metric{Name: "bulwark_admin_auth_failures_total", Help: "Refused admin handshakes, requests and enrollments.", Type: "counter", Value: float64(s.metrics.authFailures.Load())},
		Metric{Name: "bulwark_admin_stream_gaps_total", Help: "Live streams that fell behind the ring and skipped events.", Type: "counter", Value: float64(s.metrics.streamGaps.Load())},
		Metric{Name: "bulwark_uptime_seconds", Help: "Seconds since the admin plane started.", Type: "gauge", Value: time.Since(s.started).Seconds()},
	)
	if s.opt.Bus != nil {
		for name, n := range s.opt.Bus.Drops() {
			all = append(all, Metric{Name: "bulwark_event_drops_total", Help: "Events lost to a full subscriber queue.", Type: "counter", Labels: map[string]string{"subscriber": name}, Value: float64(n)})
		}
	}
	for _, src := range s.opt.Metrics {
		all = append(all, src()...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	seen := map[string]bool{}
	for _, m := range all {
		if !seen[m.Name] {
			seen[m.Name] = true
			typ := m.Type
			if typ == "" {
				typ = "gauge"
			}
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", m.Name, m.Help, m.Name, typ)
		}
		fmt.Fprintf(bw, "%s%s %g\n", m.Name, labels(m.Labels), m.Value)
	}
	return bw.Flush()
}
