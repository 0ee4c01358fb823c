// Command worker is the sandbox worker alone, for tests when the appliance binary does not
// build; it runs exactly what `bulwark sandbox-worker` runs.
package main

import (
	"os"

	"bulwark/core/sandbox"
)

func main() { os.Exit(sandbox.WorkerMain()) }
