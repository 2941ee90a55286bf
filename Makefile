# Thin wrappers: every target can be typed by hand.
.PHONY: run test check vet lint fmt bench conformance

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
