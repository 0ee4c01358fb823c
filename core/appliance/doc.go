// Package appliance is the composition root of the daemon: it builds every component from
// the configuration, assembles the public request pipeline in one visible place
// (pipeline.go), starts the listeners, and stops everything in order on shutdown.
// It is the only package that knows all the others; none of them imports it.
package appliance
