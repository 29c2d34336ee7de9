package server

import (
	"bytes"
	"net"
	"net/http"
	"regexp"

	"github.com/tourniquet/tourniquet/internal/report"
)

// handleReport answers the run as the page a person reads (contract section 2). The page is
// rendered before anything is written, so a failure is still a problem document.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	run, err := s.service.Get(r.Context(), r.PathValue("runId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts := report.Options{BaseURL: baseURL(r)}
	if s.preflight != nil {
		opts.Preflight = s.preflight.Summary()
	}
	var page bytes.Buffer
	if err := report.Render(&page, run, opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", report.ContentType)
	h.Set("Content-Security-Policy", report.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store") // the page names a compromised account and its evidence
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page.Bytes())
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$`)

// baseURL is the app's address for the page's curl examples: the request's host when it is a
// plain host name, https except on loopback; empty (a placeholder) otherwise.
func baseURL(r *http.Request) string {
	if !hostPattern.MatchString(r.Host) {
		return ""
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "http://" + r.Host
	}
	return "https://" + r.Host
}
