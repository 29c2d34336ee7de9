package tenantsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// startSim starts a simulator that the test closes at cleanup.
func startSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	sim := New(opts)
	if _, err := sim.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// startDemo starts a simulator seeded with SeedDemo.
func startDemo(t *testing.T) (*Sim, Demo) {
	t.Helper()
	sim := New(Options{})
	demo := SeedDemo(sim)
	if _, err := sim.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim, demo
}

var testHTTP = &http.Client{Timeout: 10 * time.Second}

// fetchToken asks the token endpoint the way azidentity does.
func fetchToken(t *testing.T, sim *Sim, resource string) string {
	t.Helper()
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
	req, err := http.NewRequest(http.MethodGet, sim.IdentityEndpoint()+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", sim.IdentityHeader())
	status, _, body := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("token endpoint: status %d body %v", status, body)
	}
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("token endpoint: no access_token in %v", body)
	}
	return tok
}

// do sends a request and decodes a JSON object answer (nil for an empty body).
func do(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var body map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v: %s", req.Method, req.URL, err, raw)
		}
	}
	return resp.StatusCode, resp.Header, body
}

// graphCallHTTP sends a Graph request with plain net/http. pathAndQuery is below /v1.0
// unless it is an absolute URL (a nextLink).
func graphCallHTTP(t *testing.T, sim *Sim, token, method, pathAndQuery string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	target := pathAndQuery
	if !strings.HasPrefix(target, "http") {
		target = sim.GraphURL() + pathAndQuery
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

// exo is a small Exchange InvokeCommand client for tests.
type exo struct {
	t     *testing.T
	sim   *Sim
	token string
}

func newExo(t *testing.T, sim *Sim) exo {
	return exo{t: t, sim: sim, token: fetchToken(t, sim, "https://outlook.office365.com")}
}

func invokeBody(cmdlet string, params map[string]any) []byte {
	if params == nil {
		params = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}})
	return b
}

// post sends one InvokeCommand request to target.
func (e exo) post(target string, body []byte) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "odata.maxpagesize=1000")
	return do(e.t, req)
}

func (e exo) endpoint() string {
	return e.sim.ExchangeURL() + "/" + e.sim.TenantID() + "/InvokeCommand"
}

// call runs a cmdlet and returns the first page.
func (e exo) call(cmdlet string, params map[string]any) (int, map[string]any) {
	e.t.Helper()
	status, _, body := e.post(e.endpoint(), invokeBody(cmdlet, params))
	return status, body
}

// all runs a cmdlet, follows every nextLink by POSTing the same body, and returns the
// items and the number of pages.
func (e exo) all(cmdlet string, params map[string]any) ([]map[string]any, int) {
	e.t.Helper()
	body := invokeBody(cmdlet, params)
	target := e.endpoint()
	var items []map[string]any
	pages := 0
	for target != "" {
		status, _, page := e.post(target, body)
		if status != http.StatusOK {
			e.t.Fatalf("%s: status %d body %v", cmdlet, status, page)
		}
		pages++
		for _, v := range page["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		target, _ = page["@odata.nextLink"].(string)
		if pages > 100 {
			e.t.Fatal("nextLink loop")
		}
	}
	return items, pages
}

// exoErrorParts returns error.code, error.details[0].message and
// error.innererror.internalexception.message of an Exchange error.
func exoErrorParts(t *testing.T, body map[string]any) (code, detail, internal string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope in %v", body)
	}
	code, _ = e["code"].(string)
	if details, ok := e["details"].([]any); ok && len(details) > 0 {
		detail, _ = details[0].(map[string]any)["message"].(string)
	}
	if inner, ok := e["innererror"].(map[string]any); ok {
		if ie, ok := inner["internalexception"].(map[string]any); ok {
			internal, _ = ie["message"].(string)
		}
	}
	return code, detail, internal
}

// graphErrorParts returns error.code and error.message of a Graph error.
func graphErrorParts(t *testing.T, body map[string]any) (code, message string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope in %v", body)
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

func names(items []map[string]any, key string) []string {
	var out []string
	for _, it := range items {
		s, _ := it[key].(string)
		out = append(out, s)
	}
	return out
}

// cutExceptionPrefix splits "<id>|<type>|<text>" into "<id>|<type>" and the text.
func cutExceptionPrefix(detail string) (prefix, text string, ok bool) {
	i := strings.Index(detail, "|")
	if i < 0 {
		return "", detail, false
	}
	j := strings.Index(detail[i+1:], "|")
	if j < 0 {
		return "", detail, false
	}
	return detail[:i+1+j], detail[i+j+2:], true
}
