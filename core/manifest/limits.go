package manifest

// Limits bound one app. Every field is per app; zero in app.json means "use the default".
// Operators may override them through the store; the sandbox enforces them.
type Limits struct {
	MemoryMB              int `json:"memory_mb"`              // per worker process
	CPUMs                 int `json:"cpu_ms"`                 // CPU time per request or scheduled run
	WallMs                int `json:"wall_ms"`                // wall time per request, awaits included
	Workers               int `json:"workers"`                // worker processes
	Concurrency           int `json:"concurrency"`            // in-flight requests per worker
	RequestBodyBytes      int `json:"request_body_bytes"`     // largest request body handed to the app
	ResponseBodyBytes     int `json:"response_body_bytes"`    // largest response body the app may return
	Subrequests           int `json:"subrequests"`            // fetch calls per request
	SubrequestConcurrency int `json:"subrequest_concurrency"` // fetch calls in flight per request
	SubrequestBodyBytes   int `json:"subrequest_body_bytes"`  // largest fetch response body
	LogLinesPerMinute     int `json:"log_lines_per_minute"`   // console lines kept per minute per app
	LogLineBytes          int `json:"log_line_bytes"`         // longer console lines are truncated
	StackDepth            int `json:"stack_depth"`            // JS call-stack cap
	RecycleAfter          int `json:"recycle_after"`          // requests served before a runtime is replaced
	// KVQuotaBytes is set from permissions.kv.quota_bytes, not from "limits", so the grant and
	// its size sit together in app.json; it is here so operators override one struct.
	KVQuotaBytes int `json:"-"`
}

// Defaults are the limits of an app that declares none.
func Defaults() Limits {
	return Limits{
		MemoryMB:              128,
		CPUMs:                 50,
		WallMs:                10_000,
		Workers:               1,
		Concurrency:           16,
		RequestBodyBytes:      1 << 20,
		ResponseBodyBytes:     8 << 20,
		Subrequests:           16,
		SubrequestConcurrency: 4,
		SubrequestBodyBytes:   4 << 20,
		LogLinesPerMinute:     600,
		LogLineBytes:          2048,
		StackDepth:            1000,
		RecycleAfter:          1000,
		KVQuotaBytes:          10 << 20,
	}
}

// Ceilings are the hard maxima a manifest may ask for.
func Ceilings() Limits {
	return Limits{
		MemoryMB:              2048,
		CPUMs:                 30_000,
		WallMs:                120_000,
		Workers:               16,
		Concurrency:           256,
		RequestBodyBytes:      64 << 20,
		ResponseBodyBytes:     128 << 20,
		Subrequests:           1000,
		SubrequestConcurrency: 32,
		SubrequestBodyBytes:   64 << 20,
		LogLinesPerMinute:     60_000,
		LogLineBytes:          16 << 10,
		StackDepth:            10_000,
		RecycleAfter:          1_000_000,
		KVQuotaBytes:          1 << 30,
	}
}

// minimums are the smallest values with which an app can still start.
func minimums() Limits {
	return Limits{MemoryMB: 32, CPUMs: 1, WallMs: 10, Workers: 1, Concurrency: 1, RequestBodyBytes: 0,
		LogLineBytes: 80, StackDepth: 50, RecycleAfter: 1}
}

type limitRef struct {
	name string
	get  func(*Limits) *int
}

// limitRefs enumerates the JSON-settable limits once, so defaults, ceilings and messages agree.
var limitRefs = []limitRef{
	{"memory_mb", func(l *Limits) *int { return &l.MemoryMB }},
	{"cpu_ms", func(l *Limits) *int { return &l.CPUMs }},
	{"wall_ms", func(l *Limits) *int { return &l.WallMs }},
	{"workers", func(l *Limits) *int { return &l.Workers }},
	{"concurrency", func(l *Limits) *int { return &l.Concurrency }},
	{"request_body_bytes", func(l *Limits) *int { return &l.RequestBodyBytes }},
	{"response_body_bytes", func(l *Limits) *int { return &l.ResponseBodyBytes }},
	{"subrequests", func(l *Limits) *int { return &l.Subrequests }},
	{"subrequest_concurrency", func(l *Limits) *int { return &l.SubrequestConcurrency }},
	{"subrequest_body_bytes", func(l *Limits) *int { return &l.SubrequestBodyBytes }},
	{"log_lines_per_minute", func(l *Limits) *int { return &l.LogLinesPerMinute }},
	{"log_line_bytes", func(l *Limits) *int { return &l.LogLineBytes }},
	{"stack_depth", func(l *Limits) *int { return &l.StackDepth }},
	{"recycle_after", func(l *Limits) *int { return &l.RecycleAfter }},
}

// applyDefaults replaces zero fields with defaults.
func (l *Limits) applyDefaults() {
	d := Defaults()
	for _, r := range limitRefs {
		if p := r.get(l); *p == 0 {
			*p = *r.get(&d)
		}
	}
	if l.KVQuotaBytes == 0 {
		l.KVQuotaBytes = d.KVQuotaBytes
	}
}

func (l *Limits) validate(v *validator, prefix string) {
	c, mn := Ceilings(), minimums()
	for _, r := range limitRefs {
		val, max, min := *r.get(l), *r.get(&c), *r.get(&mn)
		f := prefix + "." + r.name
		switch {
		case val < 0:
			v.add(f, "must not be negative")
		case val > max:
			v.add(f, "%d is above the ceiling of %d", val, max)
		case val < min:
			v.add(f, "%d is below the minimum of %d", val, min)
		}
	}
}

// Override returns l with every non-zero field of o applied, then checked against the
// ceilings; operators use it to tighten or loosen a deployed app's limits.
func (l Limits) Override(o Limits) (Limits, error) {
	for _, r := range limitRefs {
		if p := r.get(&o); *p != 0 {
			*r.get(&l) = *p
		}
	}
	if o.KVQuotaBytes != 0 {
		l.KVQuotaBytes = o.KVQuotaBytes
	}
	v := validator{}
	l.validate(&v, "limits")
	if o.KVQuotaBytes < 0 || o.KVQuotaBytes > Ceilings().KVQuotaBytes {
		v.add("permissions.kv.quota_bytes", "%d is outside 0..%d", o.KVQuotaBytes, Ceilings().KVQuotaBytes)
	}
	if len(v.errs) > 0 {
		return Limits{}, v.errs
	}
	return l, nil
}
