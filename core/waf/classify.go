package waf

import (
	"bulwark/core/detect"
	"bulwark/core/event"
)

// Kind maps a CRS rule id to an event kind. Decisions:
//   - 941xxx: xss; 942xxx: sqli; 930xxx: traversal (LFI), except 930130 below.
//   - probe: requests for files that only an attacker looks for: 930130 (restricted files
//     such as .env, .git, .htaccess), 920440 (restricted extensions such as .bak, .sql,
//     .config), 920500 (backup and swap files); these feed the sensitive-file ban rules.
//   - scanner: 913xxx (security scanner user agents and headers).
//   - waf: every other family (protocol enforcement, RCE, PHP, Java, session fixation...).
//   - 99101-99108 sqli, 99201-99208 xss, 99301-99304 traversal: the second detector
//     (package detect), ids from the local-use range CRS never takes.
func Kind(ruleID int) event.Kind {
	if k := detect.KindOf(ruleID); k != "" && detect.Ours(ruleID) {
		return event.Kind(k)
	}
	switch ruleID {
	case 930130, 920440, 920500:
		return event.Probe
	}
	switch ruleID / 1000 {
	case 941:
		return event.XSS
	case 942:
		return event.SQLi
	case 930:
		return event.Traversal
	case 913:
		return event.Scanner
	}
	return event.WAF
}

// severity maps CRS severities to event severities.
func severity(s string) event.Severity {
	switch s {
	case "emergency", "alert", "critical":
		return event.Critical
	case "error":
		return event.High
	case "warning":
		return event.Medium
	case "notice":
		return event.Low
	}
	return event.Info
}
