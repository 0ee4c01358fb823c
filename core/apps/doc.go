// Package apps deploys, versions and routes the appliance's JavaScript apps.
//
// A deploy builds an app folder (bundle and manifest, through a Builder), stores the result
// as a new immutable version in SQLite, starts the version's sandboxed workers, checks that it
// answers, and only then switches traffic to it in one atomic step; a deploy that fails at
// any point leaves the running version serving. Rollback points traffic at any earlier
// version. Operators override a version's limits through the store, and may switch an app
// off: its workers stop, its routes answer 503, its versions stay (SetEnabled, persisted).
//
// The Manager is also the Router stage of the public pipeline: it picks the app by host and
// path pattern and answers with the appliance's error pages when no app matches (404), the
// worker died (502), the app is overloaded (503) or out of time (504). Capability calls from
// the workers (fetch, KV, console, sanitize, security signals) arrive at its Host; a
// loginSucceeded signal calls Capabilities.OnLogin before the app's call returns, so the
// appliance can rotate that request's session and CSRF token. The defenses in front of the
// router ask it which app a request is for (AppOf) and for that app's manifest security
// section (Security); it counts requests, errors, blocks and limit hits per app for the
// last hour (Observe, AppInfo.Counts).
//
// This package does not run JavaScript (core/sandbox does) and does not parse manifests or
// bundle code (core/manifest and the Builder do).
package apps
