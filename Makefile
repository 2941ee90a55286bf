# Thin wrappers: every target can be typed by hand.
.PHONY: run test check vet lint fmt bench conformance harness

run: ## run Patchbay on embedded SQLite
	go run ./cmd/patchbay serve

test: ## the whole test suite (installs the pinned npm test tools first)
	./scripts/test

check: fmt vet lint test ## what CI runs

fmt:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"

vet:
	go vet ./...

lint: ## golangci-lint v2 with .golangci.yml
	golangci-lint run ./...

bench: ## micro-benchmarks on the hot path
	go test -run '^$$' -bench . -benchmem ./...

conformance: ## the MCP conformance suite against a real server's token URL
	go test -count=1 -run TestConformance -v ./cmd/patchbay

harness: ## side-by-side end-to-end benchmark (docs/performance.md)
	go run ./bench -quick -out report.json
