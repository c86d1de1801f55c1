# The two commands of README.md: `make run` and `make test`.
GO ?= go
# Every folder with a package-lock.json: the web UI and the Node packages
# the black-box tests and benchmarks drive.
NPM_DIRS := $(patsubst %/package-lock.json,%,$(wildcard web/package-lock.json test/*/package-lock.json test/*/*/package-lock.json bench/peers/*/package-lock.json))

.PHONY: run test npm web vet fuzz

# Builds the web UI and runs the feed service on :8080 with the embedded
# SQLite store in ./data.
run: web
	$(GO) run ./cmd/herald serve

# Builds the web UI into web/dist, which the herald binary embeds.
web:
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Installs the Node packages the black-box tests drive, builds the UI,
# checks formatting and vet, then runs every test with the race detector.
test: npm web vet
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

# A longer fuzz run of every fuzz target in the module (FUZZTIME per
# target, default 60s).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done
