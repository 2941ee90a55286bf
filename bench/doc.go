// Command bench measures Patchbay's MCP hot path (execute_action_alloy)
// against a floor forwarder and a direct call to the same upstream, side by
// side in one run on loopback, and writes a JSON report and an SVG chart.
//
// Machines differ, so the numbers that matter are ratios measured in the
// same run: gateway/floor (what auth, policy, credentials and MCP framing
// cost on top of the cheapest possible Go proxy with the same transport) and
// gateway/direct (what putting a gateway in the path costs at all). The
// method and the latest numbers are in docs/performance.md.
//
//	go run ./bench -quick -out report.json
package main
