// Package policy keeps the operator's run-time tuning durable: bans (mirrored from the
// guard's in-memory store by a writer that never sits on the request path), the allow and
// deny entries added through the admin API, and the policy documents (HTML whitelist, WAF
// mode and exclusions, headers profile, egress overrides). It also holds the live services
// the admin API calls, which validate a change, apply it to the running defenses, and only
// then report success, so what the operator sees is what runs and what comes back after a
// restart.
package policy
