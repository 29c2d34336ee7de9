package inboxrules

import (
	"strings"
	"unicode"
)

// keyword is one word (or phrase) typical of payment fraud or of hiding a compromise.
type keyword struct {
	word          string   // as shown to the analyst
	tokens        []string // lower-cased, unless caseSensitive
	caseSensitive bool
}

// keywordList is the contract's list and the like. "IT" is matched case-sensitively so
// that the pronoun "it" does not count.
var keywordList = newKeywords(
	// payment fraud
	"invoice", "payment", "wire", "bank", "banking", "remittance", "transfer", "ACH", "swift", "IBAN",
	"payroll", "W-2", "W2", "direct deposit", "gift card", "account", "purchase order",
	// hiding the compromise
	"password", "hacked", "hack", "phish", "phishing", "spam", "security", "IT", "helpdesk", "help desk",
	"credential", "compromised", "compromise", "virus", "malware", "suspicious", "fraud", "fraudulent",
	"scam", "MFA", "sign-in", "login", "unusual activity",
)

func newKeywords(words ...string) []keyword {
	list := make([]keyword, 0, len(words))
	for _, w := range words {
		k := keyword{word: w, caseSensitive: w == "IT"}
		if k.caseSensitive {
			k.tokens = tokenize(w)
		} else {
			k.tokens = tokenize(strings.ToLower(w))
		}
		list = append(list, k)
	}
	return list
}

// tokenize splits text into words at every character that is not a letter or digit, so
// "W-2", "Invoice#123" and "bank.example" split the same way in rules and keywords.
func tokenize(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// matchedKeywords returns the keywords that occur as whole words in any of the
// conditions, in the order they first occur there.
func matchedKeywords(conditions ...[]string) []string {
	var found []string
	seen := map[string]bool{}
	for _, list := range conditions {
		for _, condition := range list {
			tokens := tokenize(condition)
			lower := make([]string, len(tokens))
			for i, t := range tokens {
				lower[i] = strings.ToLower(t)
			}
			for start := range tokens {
				for _, k := range keywordList {
					if seen[k.word] {
						continue
					}
					candidate := lower
					if k.caseSensitive {
						candidate = tokens
					}
					if matchesAt(candidate, start, k) {
						seen[k.word] = true
						found = append(found, k.word)
					}
				}
			}
		}
	}
	return found
}

// matchesAt reports whether k's tokens occur at tokens[start:], allowing a plain English
// plural on the last word ("invoices", "viruses") of keywords of three letters or more.
func matchesAt(tokens []string, start int, k keyword) bool {
	if start+len(k.tokens) > len(tokens) {
		return false
	}
	last := len(k.tokens) - 1
	for i, want := range k.tokens {
		got := tokens[start+i]
		if got == want {
			continue
		}
		if i == last && !k.caseSensitive && len(want) >= 3 && (got == want+"s" || got == want+"es") {
			continue
		}
		return false
	}
	return true
}
