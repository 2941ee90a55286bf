// Package discovery ranks connector actions against a goal written in plain
// language, for discover_action_path_alloy (API contract §7.8). The ranking
// is lexical and deterministic: NewIndex tokenizes every connector once, and
// Search scores each action by where the goal's tokens occur.
package discovery
