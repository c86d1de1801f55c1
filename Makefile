# The two commands of README.md: `make run` and `make test`.
GO ?= go
NPM_DIRS := $(wildcard test/interop bench/peers/node)

.PHONY: run test npm vet fuzz

# Runs what Herald can serve today: the conformance application on :3000.
run:
	$(GO) run ./test/conformance --addr :3000

# Installs the Node packages the black-box tests drive, checks formatting
# and vet, then runs every test with the race detector.
test: npm vet
	$(GO) test -race -count=1 ./...

npm:
	@for d in $(NPM_DIRS); do \
		if [ -f $$d/package-lock.json ]; then \
			(cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
	done

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# A longer fuzz run of every parser (FUZZTIME per target, default 60s).
FUZZTIME ?= 60s
fuzz:
	@for pkg in ./engineio ./socketio; do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done
