package patchbay

// Identifier formats of §2. They are checked by hand instead of with regexp
// because several run on every MCP request.

// MaxUserIDLen is the longest valid user ID.
const MaxUserIDLen = 128

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidAccountID reports whether s matches ^[a-z0-9][a-z0-9-]{1,62}$.
func ValidAccountID(s string) bool {
	if len(s) < 2 || len(s) > 63 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// ValidUserID reports whether s matches ^[A-Za-z0-9._@:|+=-]{1,128}$.
func ValidUserID(s string) bool {
	if len(s) < 1 || len(s) > MaxUserIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '.', '_', '@', ':', '|', '+', '=', '-':
			continue
		}
		return false
	}
	return true
}

// ValidConnectorID reports whether s matches ^[a-z0-9][a-z0-9-]{0,47}$.
func ValidConnectorID(s string) bool {
	if len(s) < 1 || len(s) > 48 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// ValidResourceID reports whether s matches ^[a-z0-9][a-z0-9_]{0,63}$.
func ValidResourceID(s string) bool {
	if len(s) < 1 || len(s) > 64 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

// ValidActionID reports whether s matches ^[A-Za-z][A-Za-z0-9_]{0,63}$.
func ValidActionID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	if c := s[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

// ValidBase62 reports whether s is n characters of [0-9A-Za-z] after prefix.
func ValidBase62(s, prefix string, n int) bool {
	if len(s) != len(prefix)+n || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// ValidCredentialID reports whether s is cred_ + 20 base62 characters.
func ValidCredentialID(s string) bool { return ValidBase62(s, "cred_", 20) }
