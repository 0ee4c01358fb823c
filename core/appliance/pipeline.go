package appliance

import "net/http"

// Middleware wraps a handler; every stage of the request path is one.
type Middleware = func(http.Handler) http.Handler

// chain applies stages so that the first listed is the outermost: a request meets them in
// the order written, and its response leaves through them in reverse. Nil stages are skipped
// (a concern that is switched off).
func chain(h http.Handler, stages ...Middleware) http.Handler {
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i] != nil {
			h = stages[i](h)
		}
	}
	return h
}

// Pipeline is the public request path, in the order of DESIGN.md's data-flow picture.
// Each concern contributes its stage here and nowhere else.
type Pipeline struct {
	RequestInfo   Middleware   // verdict record, request id, client IP  (foundation)
	AccessLog     Middleware   // one JSON line per request with the verdict (foundation)
	Limits        Middleware   // body cap                                 (foundation)
	Headers       Middleware   // security headers on every response, blocks included (foundation)
	Access        Middleware   // ban / allow / deny lists                 (detection issue)
	RateLimit     Middleware   // token buckets, 429 + Retry-After         (detection issue)
	WAF           Middleware   // OWASP CRS                                 (detection issue)
	CSRF          Middleware   // origin check + synchronizer token        (detection issue)
	ResponseGuard Middleware   // cookie flags, CSRF token in forms, optional sanitize (detection issue)
	Router        http.Handler // host + path ▸ app                     (sandbox issue)
}

// Handler assembles the pipeline.
func (p Pipeline) Handler() http.Handler {
	router := p.Router
	if router == nil {
		router = http.NotFoundHandler()
	}
	return chain(router,
		p.RequestInfo,
		p.AccessLog,
		p.Limits,
		p.Headers,
		p.Access,
		p.RateLimit,
		p.WAF,
		p.CSRF,
		p.ResponseGuard,
	)
}
