// Package server is the appliance's public front: the HTTPS listener with Mozilla
// "intermediate" TLS, the plain-HTTP listener that redirects to HTTPS and answers ACME
// http-01 challenges, every connection and request limit (timeouts, header and body caps,
// a per-IP cap on open connections), graceful draining on shutdown, and the first stages of
// the request pipeline (request record, access log, body cap).
//
// It knows nothing about apps, defenses or certificates' origin: the composition root
// (core/appliance) hands it a handler and a certificate source.
package server
