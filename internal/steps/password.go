package steps

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// Character classes Entra ID accepts in passwords. The symbol set leaves out the space and
// characters some admin tools mangle (quotes, backslash, angle brackets).
const (
	lowerChars  = "abcdefghijkmnopqrstuvwxyz"
	upperChars  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digitChars  = "23456789"
	symbolChars = "!@#$%^&*-_=+?.:"
	// PasswordLength is well above Entra's minimum of 8 and the contract's 20.
	PasswordLength = 24
)

// NewPassword returns a random password of PasswordLength characters from crypto/rand with
// at least one character of each of the four classes. It is never logged or stored.
func NewPassword() (string, error) {
	classes := []string{lowerChars, upperChars, digitChars, symbolChars}
	all := lowerChars + upperChars + digitChars + symbolChars
	buf := make([]byte, 0, PasswordLength)
	for _, c := range classes {
		ch, err := pick(c)
		if err != nil {
			return "", err
		}
		buf = append(buf, ch)
	}
	for len(buf) < PasswordLength {
		ch, err := pick(all)
		if err != nil {
			return "", err
		}
		buf = append(buf, ch)
	}
	// Fisher-Yates with crypto/rand so the guaranteed characters are not at fixed places.
	for i := len(buf) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", fmt.Errorf("steps.NewPassword: %w", err)
		}
		buf[i], buf[j.Int64()] = buf[j.Int64()], buf[i]
	}
	return string(buf), nil
}

func pick(set string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("steps.NewPassword: %w", err)
	}
	return set[n.Int64()], nil
}
