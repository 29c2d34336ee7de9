package inboxrules

import (
	"strings"
	"unicode"
)

// rarelyReadFolders are the folders, by their last path segment and lower-cased, that
// attackers move mail into so the victim never sees replies or security notices. Beyond
// the contract's list (Deleted Items, RSS Feeds/RSS Subscriptions, Conversation History,
// Archive, Junk) it holds the other folders nobody reads for mail: Outlook's sync-problem
// folders, Outbox (a received message parked there is never looked at), the non-mail
// Notes and Journal folders, Clutter and Recoverable Items. Sent Items and Drafts are
// left out: people do file mail there, and flagging them would bury real findings.
var rarelyReadFolders = map[string]bool{
	"deleted items":        true,
	"recoverable items":    true,
	"rss feeds":            true,
	"rss subscriptions":    true,
	"conversation history": true,
	"archive":              true,
	"junk email":           true,
	"junk e-mail":          true,
	"junk mail":            true,
	"junk":                 true,
	"spam":                 true,
	"clutter":              true,
	"sync issues":          true,
	"conflicts":            true,
	"local failures":       true,
	"server failures":      true,
	"outbox":               true,
	"notes":                true,
	"journal":              true,
}

// folderName returns the last segment of a MoveToFolder value: `jdoe:\Inbox\RSS Feeds`,
// `\RSS Feeds` and `RSS Feeds` all give "RSS Feeds".
func folderName(moveToFolder string) string {
	s := strings.TrimSpace(moveToFolder)
	if i := strings.LastIndex(s, `\`); i >= 0 {
		s = s[i+1:]
	} else if _, rest, ok := strings.Cut(s, ":"); ok {
		s = rest // "jdoe:Folder" without a backslash
	}
	return strings.TrimSpace(s)
}

func isRarelyRead(folder string) bool {
	return rarelyReadFolders[strings.ToLower(strings.Join(strings.Fields(folder), " "))]
}

// isOddName reports a name made only of punctuation, symbols and invisible characters, or
// of one or two visible characters: ".", "..", "-", "ab". Attackers use such names for
// rules and folders so they escape a glance.
func isOddName(name string) bool {
	visible := 0
	meaningful := false
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Cc) {
			continue
		}
		visible++
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			meaningful = true
		}
	}
	return visible <= 2 || !meaningful
}
