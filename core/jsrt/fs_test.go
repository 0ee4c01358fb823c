package jsrt

import "os"

func mkdir(p string) error           { return os.MkdirAll(p, 0o755) }
func writeFile(p, body string) error { return os.WriteFile(p, []byte(body), 0o644) }
