package hostemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseTimeSpan reads the .NET TimeSpan forms host.json uses: "hh:mm:ss",
// "hh:mm:ss.fff", "d.hh:mm:ss" and "hh:mm".
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days int
	clock := s
	if dot, colon := strings.Index(s, "."), strings.Index(s, ":"); dot >= 0 && colon >= 0 && dot < colon {
		d, err := strconv.Atoi(s[:dot])
		if err != nil || d < 0 {
			return 0, fmt.Errorf("time span %q: bad day count", s)
		}
		days, clock = d, s[dot+1:]
	}
	parts := strings.Split(clock, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("time span %q: want hh:mm:ss", s)
	}
	hours, errH := strconv.Atoi(parts[0])
	minutes, errM := strconv.Atoi(parts[1])
	var seconds float64
	var errS error
	if len(parts) == 3 {
		seconds, errS = strconv.ParseFloat(parts[2], 64)
	}
	if errH != nil || errM != nil || errS != nil || hours < 0 || minutes < 0 || minutes > 59 || seconds < 0 || seconds >= 60 {
		return 0, fmt.Errorf("time span %q: want hh:mm:ss", s)
	}
	return time.Duration(days)*24*time.Hour +
		time.Duration(hours)*time.Hour +
		time.Duration(minutes)*time.Minute +
		time.Duration(seconds*float64(time.Second)), nil
}
