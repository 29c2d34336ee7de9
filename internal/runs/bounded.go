package runs

import (
	"log/slog"
	"time"

	"github.com/tourniquet/tourniquet/internal/bounds"
)

// Values read back from storage to coordinate the instances (a shared throttle's "not
// before", a lock's expiry, the rate limits' buckets) are bounded (contract section 6): one
// further ahead than the handler ever writes was planted by whoever else can write to the
// storage account, and honouring it would hold containment back for as long as it says. It
// is taken as absent, and logged.

// beyond reports whether at lies further ahead of now than the handler ever writes a value
// bounded by bound, and then logs it: once per stored value, since the same row is read
// again every few hundred milliseconds while it stays. what names the value (never a
// secret: a service, a lock or a limit name).
func (s *Store) beyond(what string, at, now time.Time, bound time.Duration) bool {
	if !bounds.Beyond(at, now, bound) {
		return false
	}
	value := at.UTC().Format(time.RFC3339Nano)
	if last, loaded := s.implausible.Swap(what, value); !loaded || last != value {
		s.log().Error("ignored a stored coordination value further ahead than the handler ever writes (storage written by someone else?)",
			"value", what, "at", value, "bound", bound+bounds.ClockSkew)
	}
	return true
}

func (s *Store) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
