package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/preflight"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/triage"
)

// apiDoc is the part of an OpenAPI 3 or Swagger 2 document these tests read.
type apiDoc struct {
	OpenAPI             string                                `json:"openapi"`
	Swagger             string                                `json:"swagger"`
	Paths               map[string]map[string]json.RawMessage `json:"paths"`
	Security            []map[string][]string                 `json:"security"`
	Components          components                            `json:"components"`
	SecurityDefinitions map[string]securityScheme             `json:"securityDefinitions"`
	Definitions         map[string]schema                     `json:"definitions"`
	Responses           map[string]json.RawMessage            `json:"responses"`
}

type components struct {
	SecuritySchemes map[string]securityScheme  `json:"securitySchemes"`
	Schemas         map[string]schema          `json:"schemas"`
	Responses       map[string]json.RawMessage `json:"responses"`
}

type securityScheme struct {
	Type string `json:"type"`
	In   string `json:"in"`
	Name string `json:"name"`
}

type schema struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Enum       []string                   `json:"enum"`
}

type operation struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Security    *[]map[string][]string `json:"security"`
	Responses   map[string]struct {
		Ref     string                     `json:"$ref"`
		Headers map[string]json.RawMessage `json:"headers"`
	} `json:"responses"`
}

const swaggerPath = "../../docs/connector/apiDefinition.swagger.json"

func loadDoc(t *testing.T, data []byte) (apiDoc, map[string]operation) {
	t.Helper()
	var doc apiDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not valid JSON: %v", err)
	}
	ops := map[string]operation{} // "METHOD /path" -> operation
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return doc, ops
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDescribesExactlyTheRoutesServed(t *testing.T) {
	doc, ops := loadDoc(t, openAPIJSON)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	want := Patterns()
	sort.Strings(want)
	if got := keys(ops); !slices.Equal(got, want) {
		t.Errorf("openapi.json operations = %v\nwant Patterns() = %v", got, want)
	}
}

func TestOpenAPIOperationIDsAreUniqueAndNamed(t *testing.T) {
	for _, file := range []struct {
		name string
		data []byte
	}{{"openapi.json", openAPIJSON}, {"apiDefinition.swagger.json", readFile(t, swaggerPath)}} {
		t.Run(file.name, func(t *testing.T) {
			_, ops := loadDoc(t, file.data)
			seen := map[string]string{}
			for route, op := range ops {
				if op.OperationID == "" || op.Summary == "" {
					t.Errorf("%s: operationId %q, summary %q: a connector needs both", route, op.OperationID, op.Summary)
				}
				if other, dup := seen[op.OperationID]; dup {
					t.Errorf("operationId %s used by %s and %s", op.OperationID, other, route)
				}
				seen[op.OperationID] = route
			}
		})
	}
}

// The statuses each handler (api.go, through writeError and the middleware) can answer.
var wantStatuses = map[string][]string{
	"POST /api/remediations":                             {"200", "202", "400", "401", "403", "404", "413", "429", "502", "503"},
	"GET /api/remediations":                              {"200", "400", "401", "403", "503"},
	"GET /api/remediations/{runId}":                      {"200", "401", "403", "404", "503"},
	"GET /api/remediations/{runId}/report":               {"200", "401", "403", "404", "503"},
	"POST /api/remediations/{runId}/restore-admin-roles": {"200", "202", "400", "401", "403", "404", "409", "413", "429", "500", "503"},
	"POST /api/remediations/{runId}/restore":             {"200", "202", "400", "401", "403", "404", "409", "413", "429", "500", "503"},
	"POST /api/remediations/{runId}/approve":             {"200", "202", "400", "401", "403", "404", "409", "413", "429", "500", "503"},
	"POST /api/remediations/{runId}/reject":              {"200", "400", "401", "403", "404", "409", "413", "503"},
	"GET /api/steps":                                     {"200", "401", "403"},
	"POST /api/steps/{step}":                             {"200", "202", "400", "401", "403", "404", "413", "429", "502", "503"},
	"GET /api/sweeps":                                    {"200", "401", "403", "503"},
	"GET /api/preflight":                                 {"200", "401", "403", "503"},
	"POST /api/triage/sentinel":                          {"200", "400", "401", "403", "413"},
	"POST /api/remediations/{runId}/watch/stop":          {"200", "400", "401", "403", "404", "409", "413", "503"},
	"GET /api/health":                                    {"200", "503"},
	"GET /api/openapi.json":                              {"200"},
}

func TestOpenAPIDescribesTheStatusesEachRouteAnswers(t *testing.T) {
	for _, file := range []struct {
		name string
		data []byte
	}{{"openapi.json", openAPIJSON}, {"apiDefinition.swagger.json", readFile(t, swaggerPath)}} {
		t.Run(file.name, func(t *testing.T) {
			doc, ops := loadDoc(t, file.data)
			responses := doc.Components.Responses
			if doc.Swagger != "" {
				responses = doc.Responses
			}
			for _, route := range Patterns() {
				want, ok := wantStatuses[route]
				if !ok {
					t.Errorf("%s: add the statuses it answers to wantStatuses", route)
					continue
				}
				op := ops[route]
				for _, status := range want {
					resp, ok := op.Responses[status]
					if !ok {
						t.Errorf("%s: status %s not described", route, status)
						continue
					}
					headers := resp.Headers
					if resp.Ref != "" {
						raw, ok := responses[resp.Ref[strings.LastIndex(resp.Ref, "/")+1:]]
						if !ok {
							t.Errorf("%s %s: $ref %s does not resolve", route, status, resp.Ref)
							continue
						}
						var shared struct {
							Headers map[string]json.RawMessage `json:"headers"`
						}
						_ = json.Unmarshal(raw, &shared)
						headers = shared.Headers
					}
					if _, retry := headers["Retry-After"]; status == "429" && !retry {
						t.Errorf("%s: 429 does not describe the Retry-After header", route)
					}
				}
			}
		})
	}
}

func TestOpenAPISecurityIsTheFunctionKeyHeaderExceptOnPublicRoutes(t *testing.T) {
	for _, file := range []struct {
		name string
		data []byte
	}{{"openapi.json", openAPIJSON}, {"apiDefinition.swagger.json", readFile(t, swaggerPath)}} {
		t.Run(file.name, func(t *testing.T) {
			doc, ops := loadDoc(t, file.data)
			schemes := doc.Components.SecuritySchemes
			if doc.Swagger != "" {
				schemes = doc.SecurityDefinitions
			}
			if s := schemes["functionKey"]; s != (securityScheme{Type: "apiKey", In: "header", Name: "x-functions-key"}) {
				t.Errorf("functionKey scheme = %+v, want apiKey in header x-functions-key", s)
			}
			if len(doc.Security) != 1 || doc.Security[0]["functionKey"] == nil {
				t.Errorf("document security = %v, want [{functionKey: []}]", doc.Security)
			}
			roles := Roles()
			for route, op := range ops {
				anonymous := op.Security != nil && len(*op.Security) == 0
				if public := roles[route] == ""; anonymous != public {
					t.Errorf("%s: anonymous in the description = %v, public in the handler = %v", route, anonymous, public)
				}
			}
		})
	}
}

func TestSwaggerDescribesTheSameOperationsAsOpenAPI(t *testing.T) {
	doc, swaggerOps := loadDoc(t, readFile(t, swaggerPath))
	if doc.Swagger != "2.0" {
		t.Fatalf("swagger = %q, want 2.0 (what custom connectors import)", doc.Swagger)
	}
	_, ops := loadDoc(t, openAPIJSON)
	if got, want := keys(swaggerOps), keys(ops); !slices.Equal(got, want) {
		t.Fatalf("swagger operations = %v\nopenapi operations = %v", got, want)
	}
	for route, op := range ops {
		if swaggerOps[route].OperationID != op.OperationID {
			t.Errorf("%s: operationId %q in swagger, %q in openapi", route, swaggerOps[route].OperationID, op.OperationID)
		}
	}
}

// TestRefsResolve walks both documents and fails on a $ref to nothing.
func TestRefsResolve(t *testing.T) {
	for _, file := range []struct {
		name string
		data []byte
	}{{"openapi.json", openAPIJSON}, {"apiDefinition.swagger.json", readFile(t, swaggerPath)}} {
		t.Run(file.name, func(t *testing.T) {
			var root any
			if err := json.Unmarshal(file.data, &root); err != nil {
				t.Fatal(err)
			}
			var walk func(v any)
			walk = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if ref, ok := v["$ref"].(string); ok && resolve(root, ref) == nil {
						t.Errorf("$ref %s does not resolve", ref)
					}
					for _, child := range v {
						walk(child)
					}
				case []any:
					for _, child := range v {
						walk(child)
					}
				}
			}
			walk(root)
		})
	}
}

func resolve(root any, ref string) any {
	node := root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		if node, ok = m[part]; !ok {
			return nil
		}
	}
	return node
}

// jsonFields lists the JSON names of a struct's exported, shown fields.
func jsonFields(v any) []string {
	var out []string
	typ := reflect.TypeOf(v)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPISchemasMatchTheGoTypes(t *testing.T) {
	doc, _ := loadDoc(t, openAPIJSON)
	tests := []struct {
		schema string
		value  any
	}{
		{"Run", runs.Run{}},
		{"Step", runs.Step{}},
		{"Change", runs.Change{}},
		{"UserRef", runs.UserRef{}},
		{"Error", runs.Error{}},
		{"Restoration", runs.Restoration{}},
		{"RestoreItem", runs.RestoreItem{}},
		{"RestoreRequest", restoreBody{}},
		{"Restored", remediation.Restored{}},
		{"UnblockSenderOptions", steps.UnblockSenderOptions{}},
		{"InvestigateOptions", steps.InvestigateOptions{}},
		{"Options", steps.Options{}},
		{"Findings", runs.Findings{}},
		{"TimelineEntry", runs.TimelineEntry{}},
		{"FindingsSummary", runs.FindingsSummary{}},
		{"Unavailable", runs.Unavailable{}},
		{"Indicators", runs.Indicators{}},
		{"Related", runs.Related{}},
		{"MailAccess", runs.MailAccess{}},
		{"MFAMethodOptions", steps.MFAMethodOptions{}},
		{"AppConsentOptions", steps.AppConsentOptions{}},
		{"BlockSignInOptions", steps.BlockSignInOptions{}},
		{"SweepRecord", runs.SweepRecord{}},
		{"Preflight", preflight.Report{}},
		{"WatchOptions", steps.WatchOptions{}},
		{"Watch", runs.Watch{}},
		{"WatchHit", runs.WatchHit{}},
		{"PreflightCheck", preflight.Check{}},
		{"PreflightStep", preflight.StepReport{}},
		{"StartRequest", startBody{}},
		{"StepRequest", stepBody{}},
		{"Problem", problem{}},
		{"Approval", runs.Approval{}},
		{"DecisionRequest", decisionBody{}},
		{"TriageResult", triage.Result{}},
		{"TriageAccount", triage.Account{}},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("no schema %s", tt.schema)
			}
			if got, want := keys(s.Properties), jsonFields(tt.value); !slices.Equal(got, want) {
				t.Errorf("schema %s properties = %v, want the Go type's JSON fields %v", tt.schema, got, want)
			}
		})
	}
	var stepNames []string
	for _, s := range catalog.All {
		stepNames = append(stepNames, string(s))
	}
	if got := doc.Components.Schemas["StepName"].Enum; !slices.Equal(got, stepNames) {
		t.Errorf("StepName enum = %v, want catalog.All %v", got, stepNames)
	}
	var codes []string
	for code := range statusOf {
		codes = append(codes, string(code))
	}
	sort.Strings(codes)
	var problemCode struct {
		Enum []string `json:"enum"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["Problem"].Properties["code"], &problemCode)
	if got := slices.Sorted(slices.Values(problemCode.Enum)); !slices.Equal(got, codes) {
		t.Errorf("Problem.code enum = %v, want the apperr codes writeError maps %v", got, codes)
	}
}

func TestOpenAPIIsServedAsIs(t *testing.T) {
	file := readFile(t, "openapi.json")
	rec := httptest.NewRecorder()
	(&Server{}).handleOpenAPI(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("GET /api/openapi.json: %d %q, want 200 application/json", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), file) {
		t.Error("GET /api/openapi.json does not serve internal/server/openapi.json")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The host routes a request to the handler only through a function whose function.json
// names the route: every API route needs an HTTP function, and every HTTP function's route
// must reach one of the handler's routes.
func TestEveryRouteHasAFunctionAndEveryFunctionARoute(t *testing.T) {
	served := http.NewServeMux()
	for _, p := range Patterns() {
		served.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	hasFunction := map[string]bool{}
	for _, f := range functions.Registry() {
		if f.Trigger != functions.HTTP {
			continue
		}
		for _, m := range f.Methods {
			pattern := strings.ToUpper(m) + " /api/" + f.Route
			hasFunction[pattern] = true
			path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString("/api/"+f.Route, "x")
			if _, matched := served.Handler(httptest.NewRequest(strings.ToUpper(m), path, nil)); matched == "" {
				t.Errorf("function %s (%s) reaches no route of the handler", f.Name, pattern)
			}
		}
	}
	for _, p := range Patterns() {
		if !hasFunction[p] {
			t.Errorf("route %s has no HTTP function: the host would never forward it", p)
		}
	}
}
