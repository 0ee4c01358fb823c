// Command bulwark-console is the desktop console of the appliance. (Being built under the
// console issue.)
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bulwark-console: not built yet")
	os.Exit(1)
}
