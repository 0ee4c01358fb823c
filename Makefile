# Bulwark. `make run` starts the appliance on embedded defaults; `make test` installs what a
# fresh Debian machine lacks and runs the whole suite.
GO       ?= go
GOBIN    := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X bulwark/core/version.Version=$(VERSION)
DATA     ?= data

.PHONY: run build console deps test vet bench screenshots package clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/bulwark ./cmd/appliance

console:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/bulwark-console ./cmd/console

# PNGs of every console screen from a real window under Xvfb into docs/screenshots/: against
# a throwaway appliance with generated attack traffic (BUNDLE=FILE: an existing appliance;
# DEMO=1: the console's demo data).
screenshots: build console
	BUNDLE="$(BUNDLE)" DEMO="$(DEMO)" bash cmd/console/screenshots.sh

run: build
	./bin/bulwark serve --data $(DATA)

deps:
	@bash packaging/devdeps.sh

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -timeout 45m ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./... | tee bench.txt

package: deps
	bash packaging/build-deb.sh

clean:
	rm -rf bin dist bench.txt
