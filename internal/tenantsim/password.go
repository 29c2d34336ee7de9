package tenantsim

import "strings"

// passwordSymbols are the symbols Entra ID accepts in a password (besides a blank space).
const passwordSymbols = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<>"

// passwordMeetsComplexity mimics the Entra ID cloud password policy: 8 to 256 characters,
// only A-Z, a-z, 0-9, the listed symbols and blank space, and at least three of the four
// classes (lowercase, uppercase, digits, symbols). Banned-password lists and "contains the
// user name" checks are not simulated.
func passwordMeetsComplexity(pw string) bool {
	if len(pw) < 8 || len(pw) > 256 {
		return false
	}
	var lower, upper, digit, symbol bool
	for _, r := range pw {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r == ' ' || strings.ContainsRune(passwordSymbols, r):
			symbol = true
		default:
			return false // Unicode and control characters are refused
		}
	}
	classes := 0
	for _, has := range []bool{lower, upper, digit, symbol} {
		if has {
			classes++
		}
	}
	return classes >= 3
}
