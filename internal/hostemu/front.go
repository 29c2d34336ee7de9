package hostemu

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serveFront answers requests the way the host's HTTP front end does: find the HTTP
// function whose route and methods match, forward the request to the handler unchanged
// (enableForwardingHttpRequest), and copy the handler's answer back.
func (h *Host) serveFront(w http.ResponseWriter, r *http.Request) {
	fn := matchHTTPFunction(h.app.functions, r.Method, r.URL.Path)
	if fn == nil {
		http.NotFound(w, r)
		return
	}
	if !h.app.forwardHTTP || !fn.forwardable {
		// The host would POST an HTTP-request envelope to /{FunctionName}; nothing here
		// uses that mode, so it is not emulated.
		http.Error(w, fmt.Sprintf("hostemu: function %s is not a forwarded http-in/http-out function", fn.name), http.StatusNotImplemented)
		return
	}

	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	started := time.Now()
	status, err := h.forward(w, r)
	h.record(Invocation{Function: fn.name, Status: status, Error: errorText(err), At: started})
}

// forward sends r to the handler with the same method, path, query, headers and body,
// plus the host's invocation headers, and streams the answer back.
func (h *Host) forward(w http.ResponseWriter, r *http.Request) (int, error) {
	ctx := r.Context()
	if h.app.functionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.app.functionTimeout)
		defer cancel()
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, h.worker.baseURL()+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, "hostemu: "+err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // the handler sees the host name the caller used
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	addInvocationHeaders(out.Header, newUUID())

	resp, err := h.client.Do(out)
	if err != nil {
		// The host answers 500 when the handler cannot be reached.
		http.Error(w, "hostemu: handler unreachable", http.StatusInternalServerError)
		return 0, fmt.Errorf("forward %s %s: %w", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	for name, values := range resp.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("forward %s %s: copy answer: %w", r.Method, r.URL.Path, err)
	}
	return resp.StatusCode, nil
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
