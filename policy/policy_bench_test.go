package policy_test

import (
	"testing"

	"github.com/patchbay-mcp/patchbay/policy"
)

func BenchmarkAllowConnector(b *testing.B) {
	p := policy.Compile(bigRestrictions(100))
	b.ReportAllocs()
	for b.Loop() {
		p.AllowConnector("connector-77")
	}
}

func BenchmarkAllowAction(b *testing.B) {
	p := policy.Compile(bigRestrictions(100))
	b.ReportAllocs()
	for b.Loop() {
		p.AllowAction("connector-77", "action_77") // qualified entry: misses the bare set first
	}
}

func BenchmarkAllowActionDenied(b *testing.B) {
	p := policy.Compile(bigRestrictions(100))
	b.ReportAllocs()
	for b.Loop() {
		p.AllowAction("connector-77", "action_79") // listed only as connector-79.action_79
	}
}

func BenchmarkAllowUser(b *testing.B) {
	p := policy.Compile(bigRestrictions(100))
	b.ReportAllocs()
	for b.Loop() {
		p.AllowUser("user-77")
	}
}
