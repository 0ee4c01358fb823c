// Package guard is the request-side shield in front of the apps: IP allow and deny lists,
// temporary bans held in memory, fail2ban-style rules and CrowdSec-style scenarios that turn
// repeated misbehaviour into bans, and per-IP and per-app token-bucket rate limits.
//
// It exists so a ban check costs a map lookup and never waits on the database: bans live
// behind one BanStore interface (in memory here; a shared decision engine such as CrowdSec's
// local API can implement it later), rebuilt from the saved bans at start. It does not
// persist bans itself and does not inspect payloads (that is the WAF's job).
package guard
