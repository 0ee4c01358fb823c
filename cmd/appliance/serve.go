package main

import "errors"

// cmdServe runs the appliance. (Being built under the foundation issue.)
func cmdServe(args []string) error { return errors.New("serve: not built yet") }

// cmdInit creates the data folder. (Being built under the foundation issue.)
func cmdInit(args []string) error { return errors.New("init: not built yet") }
