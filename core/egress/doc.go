// Package egress is the supervisor's side of an app's fetch: the only way app code reaches
// the network, and only to hosts its manifest names.
//
// A request must be https, name an allowed host exactly (after lowercasing and IDN
// conversion; no userinfo, IP literals, numeric hosts or trailing dots; the port is part of
// the match, 443 unless the entry says otherwise), and every address it connects to is
// checked at dial time, in the dialer's Control hook, against loopback, private, link-local,
// CGNAT, metadata, multicast, unspecified and other non-public ranges (IPv4-mapped IPv6
// included), so DNS rebinding cannot slip through. Redirects are re-checked hop by hop.
// Subrequests per incoming request, concurrency, body sizes and total time are capped.
//
// A refusal is a *Denied error; the supervisor turns it into an egress_denied event. This
// package does not emit events itself and holds no per-app state beyond its Client.
package egress
