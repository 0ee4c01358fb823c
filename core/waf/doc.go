// Package waf is the appliance's attack detector: the OWASP Core Rule Set v4 run by Coraza in
// anomaly-scoring mode, with per-app and per-path modes and rule exclusions, every rule match
// turned into an event, and a fast path that lets benign traffic skip work the rules provably
// cannot use, without changing any verdict.
//
// It is not the ban list, the rate limiter or the CSRF check (package guard and csrf): it only
// inspects a request and says which rules fired and whether the request is to be refused.
//
// The speed-ups (see fast.go) are sound by construction and proved identical on the whole CRS
// regression suite by TestIdentityCRSRegression, which runs every request through a stock
// engine and a fast engine and compares the fired rule ids.
package waf
