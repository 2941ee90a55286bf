package patchbay

import "log/slog"

// Secret holds a value that must never be printed, logged or marshalled:
// API keys, tokens, passwords. Reveal is the only way out, so every use of a
// plaintext secret is easy to find in review.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

func (Secret) String() string               { return "[REDACTED]" }
func (Secret) GoString() string             { return "patchbay.Secret([REDACTED])" }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[REDACTED]") }

// Reveal returns the plaintext. Call it only at the point of use.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }
