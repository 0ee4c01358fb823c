// Package sanitize turns untrusted HTML into HTML that cannot run script, using bluemonday
// policies built from an operator-editable whitelist (tag → attributes, URL schemes,
// per-attribute value rules, and what to do with tags outside the list).
//
// It exists so that apps (through sanitizeHTML) and the response guard share one vetted
// sanitizer and one policy format that the console can edit. It does not decide which
// responses are sanitized; the app or the route's manifest does.
package sanitize
