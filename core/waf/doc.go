// Package waf is the appliance's attack detector: the OWASP Core Rule Set v4 run by Coraza in
// anomaly-scoring mode, with per-app and per-path modes and rule exclusions, every rule match
// turned into an event, and a fast path that lets benign traffic skip rules that provably
// cannot match, without changing any verdict.
//
// It is not the ban list, the rate limiter or the CSRF check: it only inspects a request,
// says which rules fired and refuses it when the anomaly score reaches the threshold.
//
// Use: New(cfg.WAF, sink, appOf) compiles the rules once; (*WAF).Middleware is the
// Pipeline.WAF stage; SetPolicy / SetExclusions change modes and exclusions at run time
// (validated, errors name the field). The engine always runs Coraza in DetectionOnly and
// takes the block decision itself, so one compiled rule set serves every mode.
//
// Event kinds: 941 xss, 942 sqli, 930 traversal, 913 scanner, 930130/920440/920500 probe
// (sensitive files and extensions), everything else waf. One event per rule match, with the
// rule id, message, matched variable, matched data (truncated) and the anomaly score.
//
// A second detector (package detect) runs in the same stage over every query, form, JSON and
// multipart parameter, upload file names and the path as sent: it parses values as SQL, HTML/JavaScript and paths after decoding them as an
// application would, and a finding blocks on its own (rule ids 99101-99108 sqli, 99201-99208
// xss, 99301-99304 traversal; the modes and exclusions apply to them as to CRS ids). It also
// overrules a few CRS rules that are noisy on ordinary text (942100, 942540, 942190, 942270,
// 942360) on a parameter it reads as text, by re-running CRS with that rule excluded for that
// parameter (detector.go, vetoable, says which and why).
//
// The speed-ups are proofs, not heuristics, each in its own file:
//   - fast.go, factor.go, alphabet.go, native.go: a rule leaves a transaction when no value
//     it can read, after its transformations, can match its operator (literal factors,
//     alphabets, line-framed verification, exact emulation of a few transformations for
//     934100, absent variables);
//   - residual.go: the heads the proofs above keep are evaluated exactly as Coraza would
//     (its variables, transformations and operators reproduced), and leave when nothing
//     matches;
//   - levels.go, static.go, seclang.go: bookkeeping fixed by the settings (constant setup
//     rules, paranoia-level switches and the rules they skip, level tests that cannot match)
//     is compiled out; its TX values are seeded and its ids reported;
//   - quiet.go: rules that match on nearly every request with no effect a Result shows but
//     their id (941010), whose chain cannot match and whose leftovers nothing reads (920450),
//     or whose chain holds a rule that cannot match (920170, 920180, ...).
//
// The logging phase runs only when the directives mention auditing. TestIdentityCRSRegression
// runs the whole CRS regression suite through a stock engine and a fast engine and fails on
// any difference in fired rule ids; TestIdentityAttackCorpora does the same on the attack
// corpora, TestIdentityDefaultLevels compares whole Results at PL1 and PL2, and each file's
// tests compare its own decisions with Coraza's. Coraza's experimental SecRxPreFilter is
// deliberately not used: that test showed it dropping true matches of case-insensitive
// rules (942220, 932311) in v3.8.1.
package waf
