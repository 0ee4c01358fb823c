package main

import (
	"os"

	"bulwark/core/sandbox"
)

// cmdSandboxWorker is the hidden command the sandbox supervisor re-executes this binary with:
// one app's worker process, talking to its supervisor over descriptor 3. It never returns.
func cmdSandboxWorker(args []string) error {
	os.Exit(sandbox.WorkerMain())
	return nil
}
