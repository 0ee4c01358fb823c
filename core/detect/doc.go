// Package detect is the appliance's second attack detector, layered on the Core Rule Set:
// it reads one request value the way the application behind it will, and says whether the
// value breaks out of its context into SQL, into HTML or JavaScript, or out of a directory.
//
// CRS matches patterns; this package parses. An SQL value is tokenized and judged by what it
// does after the point where it would leave the string or number the application put it in
// (a quote that closes the string, then an operator, a keyword, a comment or a stacked
// statement that form valid SQL). An HTML value is scanned the way a browser's tokenizer sees
// it (tags, attributes, event handlers, javascript: URLs, script-context break-outs). A path
// value is normalised the way lenient servers decode it (repeated percent-decoding, %u
// escapes, overlong UTF-8, Unicode look-alikes of '.', '/' and '\') and checked for dot-dot
// segments and absolute paths to system files.
//
// Each check first decodes the value as an attacker expects the application to (URL, double
// URL, HTML entities, JavaScript escapes), with a fixed number of rounds and linear work per
// round, so a hostile value costs time proportional to its length.
//
// Every finding carries a rule id of its own in the range 99000-99999, which ModSecurity's
// reserved-id list leaves for local use and CRS (900000-999999) never uses, so an operator
// excludes it like any CRS rule. The waf package runs it inside its stage and also uses its
// SQL analysis to veto a few CRS rules that are known to be noisy on ordinary text
// (see waf.vetoable).
package detect
