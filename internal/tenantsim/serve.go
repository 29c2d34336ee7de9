package tenantsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBodyBytes bounds a request body after decompression.
const maxBodyBytes = 8 << 20

// requestLog keeps every served request for tests.
type requestLog struct {
	mu       sync.Mutex
	requests []Request
}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
}

// Requests returns a copy of every request served so far, in the order they finished.
func (s *Sim) Requests() []Request {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	out := make([]Request, len(s.log.requests))
	for i, r := range s.log.requests {
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Sim) ResetRequests() {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.requests = nil
}

func (s *Sim) record(r Request) {
	s.log.add(r)
	if r.Cmdlet != "" {
		s.logf("tenantsim: %s %s %s -> %d", r.Method, r.Path, r.Cmdlet, r.Status)
		return
	}
	s.logf("tenantsim: %s %s -> %d", r.Method, r.Path, r.Status)
}

// serveAPI is the common path of Graph and Exchange requests: decompress, record,
// latency, bearer check, faults, then the service handler.
func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, service string) {
	body, bodyErr := readBody(r)
	rec := Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Service: service, Body: body,
		ContentEncoding: r.Header.Get("Content-Encoding"), Start: time.Now(),
	}
	if service == ServiceExchange {
		rec.Cmdlet = cmdletName(body)
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status, rec.End = sw.status, time.Now()
		s.record(rec)
	}()

	if !sleepContext(r.Context(), s.opts.Latency) {
		return // the client went away
	}
	resource := graphResource
	if service == ServiceExchange {
		resource = exchangeResource
	}
	var authErr string
	rec.Authorized, authErr = s.authorize(r, resource)
	if !rec.Authorized {
		writeUnauthorized(sw, service, authErr)
		return
	}
	if bodyErr != nil {
		writeBadBody(sw, service, bodyErr)
		return
	}
	if s.applyFault(sw, r, faultKey{method: r.Method, path: r.URL.Path, cmdlet: rec.Cmdlet, query: decodedQuery(r.URL.RawQuery)}, service, true) {
		return
	}
	switch service {
	case ServiceGraph:
		s.serveGraph(sw, r, body)
	case ServiceExchange:
		s.serveExchange(sw, r, body)
	}
	if sw.loseAnswer {
		resetConnection(sw)
	}
}

// readBody reads the request body, gunzipping it when Content-Encoding says gzip.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(raw) > maxBodyBytes {
		return nil, errors.New("request body too large")
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "gzip") || len(raw) == 0 {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("gunzip body: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(zr, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gunzip body: %w", err)
	}
	if len(plain) > maxBodyBytes {
		return nil, errors.New("request body too large")
	}
	return plain, nil
}

func writeBadBody(w http.ResponseWriter, service string, err error) {
	msg := "The request body could not be read: " + err.Error()
	if service == ServiceExchange {
		writeExchangeError(w, exoBadRequest(msg))
		return
	}
	writeGraphError(w, graphErr(http.StatusBadRequest, "BadRequest", msg), nil)
}

// statusWriter remembers the status code written and lets the fault injector hijack the
// connection underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
	// loseAnswer (LoseAnswerNext): the status is recorded, nothing is sent, and the
	// connection is dropped once the request was carried out.
	loseAnswer bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if !w.loseAnswer {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.loseAnswer {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot be hijacked")
	}
	return h.Hijack()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own maps and structs reach here; a failure is a simulator bug.
		http.Error(w, "tenantsim: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodedQuery is a request's query string with its escapes undone ("" when it does not
// decode), for ThrottleNextWhere.
func decodedQuery(raw string) string {
	q, err := url.QueryUnescape(raw)
	if err != nil {
		return ""
	}
	return q
}
