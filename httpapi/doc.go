// Package httpapi is the management REST face under /api (§4, §5, §11.4,
// §12.3, §16 of the contract) plus the operational endpoints /healthz,
// /readyz and /metrics. Every endpoint is listed in routes.go; handlers return
// errors and one adapter turns them into the contract's envelope.
package httpapi
