package waf

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine wall time per op
// says more about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benignGET() *Request {
	return &Request{RemoteAddr: "192.0.2.10:51234", Method: "GET", URI: "/shop/products/42?page=2&sort=price&category=garden-tools", Proto: "HTTP/1.1", Host: "shop.example.com",
		Headers: [][2]string{
			{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
			{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
			{"Accept-Language", "en-US,en;q=0.9"},
			{"Accept-Encoding", "gzip, deflate, br"},
			{"Cookie", "session=3f9a1c7be2d84e0f9a1c7be2d84e0f9a; theme=dark"},
			{"Referer", "https://shop.example.com/shop/products?page=1"},
		}}
}

func benignPOST() *Request {
	r := benignGET()
	r.Method = "POST"
	r.URI = "/account/profile"
	var b strings.Builder
	b.WriteString("name=Jane+Doe&email=jane.doe%40example.com&phone=%2B1+555+0100&city=Springfield&country=US&newsletter=on&bio=")
	prose := "Our community garden meets every Saturday morning. We grow tomatoes, beans and herbs in raised beds, and we welcome new members who would like to learn about composting and water conservation. "
	for b.Len() < 2000 {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(prose, " ", "+"), ",", "%2C"))
	}
	body := b.String()[:2048]
	r.Body = []byte(body)
	r.Headers = append(r.Headers, [2]string{"Content-Type", "application/x-www-form-urlencoded"}, [2]string{"Content-Length", "2048"})
	return r
}

func benchEngine(b *testing.B, stock bool, req *Request) {
	s := DefaultSettings()
	s.Stock = stock
	e, err := NewEngine(s)
	if err != nil {
		b.Fatal(err)
	}
	e.Inspect(req, nil) // the fast path's plan for this kind of request is built once
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		r := e.Inspect(req, nil)
		if r.Block {
			b.Fatalf("benign blocked: %+v", r.Matches)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/1e3/float64(b.N), "cpu-µs/op")
}

func BenchmarkStockGET(b *testing.B)  { benchEngine(b, true, benignGET()) }
func BenchmarkStockPOST(b *testing.B) { benchEngine(b, true, benignPOST()) }
func BenchmarkFastGET(b *testing.B)   { benchEngine(b, false, benignGET()) }
func BenchmarkFastPOST(b *testing.B)  { benchEngine(b, false, benignPOST()) }
