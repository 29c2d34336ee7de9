// Package infra holds the deployment (Bicep, scripts). Its test holds the code, the example
// settings, host.json, the function folders and the Bicep files against each other: there is
// no Bicep compiler here, so a setting, queue or table that exists in one place and not in the
// other must fail `make test` instead of a deployment.
package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/config"
	"github.com/tourniquet/tourniquet/internal/functions"
)

const repoRoot = ".."

// Settings of config.Settings that a file deliberately does not define, and why. A reason
// that no longer applies (the setting left config.Settings) fails the test too.
var (
	notInBicep = map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "set by the Functions host when it starts the handler",
		"AzureWebJobsStorage":          "connection string; the storage account disables shared keys, the identity-based AzureWebJobsStorage__* settings replace it",
		"WEBSITE_AUTH_ENABLED":         "set by App Service itself when App Service authentication is on",
	}
	notInExample = map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "set by the Functions host (func start) when it starts the handler",
		"WEBSITE_AUTH_ENABLED":         "set by App Service when its authentication is on; func start has none, so easyauth is not for local runs",
	}
	// Settings of the Functions host itself, allowed next to Tourniquet's own.
	hostSettings = []string{
		"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION",
		"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
	}
)

func read(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(data)
}

// bicepObjectKeys returns the keys of the object literal `var <name> = {` ... `}` in src.
func bicepObjectKeys(t *testing.T, src, name string) []string {
	t.Helper()
	body := bicepBlock(t, src, `var `+name+` = `)
	key := regexp.MustCompile(`(?m)^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:`)
	var keys []string
	for _, m := range key.FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// bicepArrayStrings returns the string items of the array literal `var <name> = [` ... `]`.
func bicepArrayStrings(t *testing.T, src, name string) []string {
	t.Helper()
	start := strings.Index(src, "var "+name+" = [")
	if start < 0 {
		t.Fatalf("no `var %s = [` in the Bicep file", name)
	}
	end := strings.Index(src[start:], "\n]")
	if end < 0 {
		t.Fatalf("array %s is not closed", name)
	}
	item := regexp.MustCompile(`(?m)^\s*'([^']*)'`)
	var items []string
	for _, m := range item.FindAllStringSubmatch(src[start:start+end], -1) {
		items = append(items, m[1])
	}
	return items
}

// bicepBlock returns the text between the brace that follows prefix and its partner.
func bicepBlock(t *testing.T, src, prefix string) string {
	t.Helper()
	start := strings.Index(src, prefix)
	if start < 0 {
		t.Fatalf("no %q in the Bicep file", prefix)
	}
	open := strings.Index(src[start:], "{")
	if open < 0 {
		t.Fatalf("no block after %q", prefix)
	}
	open += start
	depth := 0
	for i := open; i < len(src); i++ {
		switch src[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[open+1 : i]
			}
		}
	}
	t.Fatalf("block after %q is not closed", prefix)
	return ""
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func TestBicepAppSettingsDefineEverySettingTheCodeReads(t *testing.T) {
	src := read(t, "infra/modules/functionapp.bicep")
	ours := bicepObjectKeys(t, src, "tourniquetSettings")
	all := append(append(slices.Clone(ours), bicepObjectKeys(t, src, "hostSettings")...), "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME")
	for _, s := range config.Settings {
		_, exempt := notInBicep[s]
		switch defined := slices.Contains(all, s); {
		case exempt && defined:
			t.Errorf("%s is defined in functionapp.bicep although it should not be: %s", s, notInBicep[s])
		case !exempt && !defined:
			t.Errorf("%s (config.Settings) is not an app setting in infra/modules/functionapp.bicep", s)
		}
	}
	for s, why := range notInBicep {
		if !slices.Contains(config.Settings, s) {
			t.Errorf("notInBicep lists %s (%s), which the code no longer reads", s, why)
		}
	}
	for _, s := range ours {
		if !slices.Contains(config.Settings, s) {
			t.Errorf("functionapp.bicep sets %s, which the code does not read (typo?)", s)
		}
	}
}

func exampleSettings(t *testing.T) map[string]string {
	t.Helper()
	var example struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal([]byte(read(t, "local.settings.json.example")), &example); err != nil {
		t.Fatalf("local.settings.json.example: %v", err)
	}
	return example.Values
}

func TestExampleSettingsDefineEverySettingTheCodeReads(t *testing.T) {
	values := exampleSettings(t)
	for _, s := range config.Settings {
		_, exempt := notInExample[s]
		if _, defined := values[s]; !defined && !exempt {
			t.Errorf("%s (config.Settings) is missing from local.settings.json.example", s)
		}
	}
	for s := range values {
		if !slices.Contains(config.Settings, s) && !slices.Contains(hostSettings, s) {
			t.Errorf("local.settings.json.example sets %s, which neither the code nor the host reads", s)
		}
	}
}

func TestDeploymentDefaultsAreTheSafeOnes(t *testing.T) {
	main := read(t, "infra/main.bicep")
	values := exampleSettings(t)
	tests := []struct {
		setting, param, want string
	}{
		{"SWEEP_MODE", "sweepMode", "report"},
		{"AUTH_MODE", "authMode", "functionkey"},
		{"APPROVAL_MODE", "approvalMode", "none"},
		{"APPROVAL_TIMEOUT", "approvalTimeout", "1h"},
		{"MAX_REMEDIATIONS_PER_HOUR", "maxRemediationsPerHour", "20"},
		{"SWEEP_MAX_USERS", "sweepMaxUsers", "10"},
		{"SWEEP_SCHEDULE", "sweepSchedule", "0 */15 * * * *"},
		{"TOURNIQUET_TABLE_PREFIX", "tablePrefix", "Tourniquet"},
		// The handler's default is false (the contract leaves reason optional); deployments
		// and local runs turn it on.
		{"INVESTIGATION_REASON_REQUIRED", "investigationReasonRequired", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			decl := regexp.MustCompile(`(?m)^param ` + tt.param + ` string = '([^']*)'`).FindStringSubmatch(main)
			if decl == nil {
				t.Fatalf("main.bicep has no `param %s string = '...'`", tt.param)
			}
			if decl[1] != tt.want {
				t.Errorf("main.bicep default of %s = %q, want %q", tt.param, decl[1], tt.want)
			}
			if values[tt.setting] != tt.want {
				t.Errorf("local.settings.json.example %s = %q, want %q", tt.setting, values[tt.setting], tt.want)
			}
		})
	}
}

func TestBicepCreatesEveryQueueAndItsPoisonQueue(t *testing.T) {
	var want []string
	for _, q := range functions.Queues() {
		want = append(want, q, q+"-poison")
	}
	// storage.bicep creates the queues listed in queues.json (written by go generate
	// ./internal/functions, checked in sync there).
	if !strings.Contains(read(t, "infra/modules/storage.bicep"), "var queueNames = loadJsonContent('queues.json')") {
		t.Fatal("storage.bicep does not read its queue names from queues.json")
	}
	var got []string
	if err := json.Unmarshal([]byte(read(t, "infra/modules/queues.json")), &got); err != nil {
		t.Fatalf("queues.json: %v", err)
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("queues.json = %v\nwant (functions.Queues() and -poison) %v", sorted(got), sorted(want))
	}
	// And every queue a committed function.json binds to.
	for _, f := range functions.Registry() {
		var fj struct {
			Bindings []struct {
				Type      string `json:"type"`
				QueueName string `json:"queueName"`
			} `json:"bindings"`
		}
		if err := json.Unmarshal([]byte(read(t, filepath.Join(f.Name, "function.json"))), &fj); err != nil {
			t.Fatalf("%s/function.json: %v", f.Name, err)
		}
		for _, b := range fj.Bindings {
			if b.QueueName != "" && !slices.Contains(got, b.QueueName) {
				t.Errorf("%s binds queue %q, which storage.bicep does not create", f.Name, b.QueueName)
			}
		}
	}
}

func TestBicepCreatesTheRunRecordTables(t *testing.T) {
	// The store names its tables prefix + "Runs", ...; read them from its source.
	store := read(t, "internal/runs/store.go")
	var want []string
	for _, m := range regexp.MustCompile(`NewClient\(prefix \+ "([A-Za-z]+)"\)`).FindAllStringSubmatch(store, -1) {
		want = append(want, m[1])
	}
	if len(want) == 0 {
		t.Fatal("found no `NewClient(prefix + \"...\")` in internal/runs/store.go: update this test")
	}
	storage := read(t, "infra/modules/storage.bicep")
	got := bicepArrayStrings(t, storage, "tableSuffixes")
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("storage.bicep tableSuffixes = %v, want %v (internal/runs/store.go)", sorted(got), sorted(want))
	}
	if !strings.Contains(storage, "name: '${tablePrefix}${suffix}'") {
		t.Error("storage.bicep must name each table '${tablePrefix}${suffix}', like the store")
	}
}

func TestHostJSONStartsTheHandlerThePackageBuilds(t *testing.T) {
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
		Extensions struct {
			Queues struct {
				MessageEncoding string `json:"messageEncoding"`
			} `json:"queues"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(read(t, "host.json")), &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "handler" {
		t.Errorf("host.json defaultExecutablePath = %q, want \"handler\"", got)
	}
	// Ticketing systems and the handler put plain JSON text on the queues.
	if got := host.Extensions.Queues.MessageEncoding; got != "none" {
		t.Errorf("host.json extensions.queues.messageEncoding = %q, want \"none\"", got)
	}
	pkg := read(t, "scripts/package.sh")
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", `-o "$stage/handler"`, "cp host.json", "dist/app.zip"} {
		if !strings.Contains(pkg, want) {
			t.Errorf("scripts/package.sh does not contain %q", want)
		}
	}
	azure := read(t, "azure.yaml")
	for _, want := range []string{"dist: dist/app", "run: ./scripts/package.sh", "host: function", "path: infra"} {
		if !strings.Contains(azure, want) {
			t.Errorf("azure.yaml does not contain %q", want)
		}
	}
	if !strings.Contains(read(t, "infra/modules/functionapp.bicep"), "'azd-service-name': 'api'") {
		t.Error("functionapp.bicep must tag the site azd-service-name: api (service api in azure.yaml)")
	}
}

func TestFunctionFoldersAreExactlyTheRegistry(t *testing.T) {
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, e.Name(), "function.json")); err == nil {
			got = append(got, e.Name())
		}
	}
	var want []string
	for _, f := range functions.Registry() {
		want = append(want, f.Name)
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("function folders at the repository root = %v\nwant functions.Registry() = %v", sorted(got), sorted(want))
	}
}

func TestPlaybookCallsRoutesTheHandlerServes(t *testing.T) {
	raw := read(t, "infra/playbooks/sentinel-remediate/workflow.json")
	var wf map[string]any
	if err := json.Unmarshal([]byte(raw), &wf); err != nil {
		t.Fatalf("workflow.json: %v", err)
	}
	// The routes the host serves are those of the function folders (functions.Registry());
	// the server tests check that the handler serves exactly these. Reading them from the
	// registry keeps this package's test binary free of the Graph SDK.
	var patterns []string
	for _, f := range functions.Registry() {
		for _, m := range f.Methods {
			patterns = append(patterns, strings.ToUpper(m)+" /api/"+f.Route)
		}
	}
	calls := []struct{ method, pattern, uri string }{
		{"POST", "POST /api/remediations", "/api/remediations\""},
		{"GET", "GET /api/remediations/{runId}", "/api/remediations/@{encodeUriComponent("},
		{"POST", "POST /api/triage/sentinel", "/api/triage/sentinel\""},
	}
	for _, c := range calls {
		if !slices.Contains(patterns, c.pattern) {
			t.Errorf("the playbook calls %s, which no function of functions.Registry() serves", c.pattern)
		}
		if !strings.Contains(raw, c.uri) {
			t.Errorf("workflow.json has no %s call to %q", c.method, c.uri)
		}
	}
	for _, want := range []string{`"x-functions-key"`, `"idempotencyKey"`, `"secureData"`, `"/Incidents/Comment"`, `'sentinel-dryrun:'`} {
		if !strings.Contains(raw, want) {
			t.Errorf("workflow.json does not contain %s", want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "password") {
		t.Error("workflow.json mentions a password; the comment must never carry one")
	}
	// A run that waits for approval is commented with how to approve it, and the wait for
	// the run's end goes on through the approval.
	if !slices.Contains(patterns, "POST /api/remediations/{runId}/approve") || !strings.Contains(raw, "/api/remediations/@{"+htmlEscapeOpen+"body('Start_remediation')?['runId']"+strings.ReplaceAll(htmlEscapeClose, `"`, `\"`)+"}/approve") {
		t.Error("the playbook's approval comment does not name the approve route the handler serves")
	}
	if strings.Count(raw, "'awaiting_approval'") < 1 || !strings.Contains(raw, `"awaiting_approval"`) {
		t.Error("the playbook neither comments a run awaiting approval nor keeps waiting through it")
	}
}

func bicepFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".bicep") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no Bicep files under infra (%v)", err)
	}
	return files
}

// stripBicep blanks comments and string literals (keeping line breaks), so braces inside them
// do not count.
func stripBicep(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		switch {
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return b.String() + "/*"
			}
			i += end + 3
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return b.String() + "'''"
			}
			i += end + 5
			b.WriteString("''")
		case src[i] == '\'':
			i++
			for i < len(src) && src[i] != '\'' && src[i] != '\n' {
				if src[i] == '\\' {
					i++
				}
				i++
			}
			b.WriteString("''")
		default:
			b.WriteByte(src[i])
		}
	}
	return b.String()
}

func TestBicepFilesAreBalancedAndUseEveryParam(t *testing.T) {
	pairs := map[byte]byte{'}': '{', ']': '[', ')': '('}
	paramDecl := regexp.MustCompile(`(?m)^param ([A-Za-z_][A-Za-z0-9_]*) `)
	for _, file := range bicepFiles(t) {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			src := string(data)
			code := stripBicep(src)
			var stack []byte
			line := 1
			for i := 0; i < len(code); i++ {
				c := code[i]
				switch c {
				case '\n':
					line++
				case '{', '[', '(':
					stack = append(stack, c)
				case '}', ']', ')':
					if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
						t.Fatalf("line %d: unbalanced %q", line, c)
					}
					stack = stack[:len(stack)-1]
				}
			}
			if len(stack) > 0 {
				t.Fatalf("unclosed %q at the end of the file", stack)
			}
			if strings.Contains(code, "/*") || strings.Contains(code, "'''") {
				t.Fatal("unterminated comment or multi-line string")
			}
			for _, m := range paramDecl.FindAllStringSubmatch(src, -1) {
				uses := regexp.MustCompile(`\b`+m[1]+`\b`).FindAllStringIndex(src, -1)
				if len(uses) < 2 {
					t.Errorf("param %s is declared but never used", m[1])
				}
			}
		})
	}
}

// moduleCall is one `module <name> '<path>' = ... { ... params: { ... } }` of a Bicep file.
type moduleCall struct {
	path   string
	params []string
}

func moduleCalls(t *testing.T, src string) []moduleCall {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^module [A-Za-z_][A-Za-z0-9_]* '([^']+)'`)
	key := regexp.MustCompile(`(?m)^    ([A-Za-z_][A-Za-z0-9_]*):`)
	var calls []moduleCall
	for _, loc := range decl.FindAllStringSubmatchIndex(src, -1) {
		rest := src[loc[1]:]
		body := bicepBlock(t, rest, "")
		params := ""
		if strings.Contains(body, "params: {") {
			params = bicepBlock(t, body, "params: {")
		}
		call := moduleCall{path: src[loc[2]:loc[3]]}
		for _, m := range key.FindAllStringSubmatch(params, -1) {
			call.params = append(call.params, m[1])
		}
		calls = append(calls, call)
	}
	return calls
}

func TestBicepModulesGetExactlyTheParamsTheyDeclare(t *testing.T) {
	paramDecl := regexp.MustCompile(`(?m)^param ([A-Za-z_][A-Za-z0-9_]*) [^=\n]+(=)?`)
	for _, file := range bicepFiles(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range moduleCalls(t, string(src)) {
			target := filepath.Join(filepath.Dir(file), call.path)
			modSrc, err := os.ReadFile(target)
			if err != nil {
				t.Errorf("%s: module %s: %v", file, call.path, err)
				continue
			}
			declared := map[string]bool{} // name -> has a default
			for _, m := range paramDecl.FindAllStringSubmatch(string(modSrc), -1) {
				declared[m[1]] = m[2] == "="
			}
			for _, p := range call.params {
				if _, ok := declared[p]; !ok {
					t.Errorf("%s passes %s to %s, which declares no such param", file, p, call.path)
				}
			}
			for p, hasDefault := range declared {
				if !hasDefault && !slices.Contains(call.params, p) {
					t.Errorf("%s does not pass required param %s to %s", file, p, call.path)
				}
			}
		}
	}
}

func TestBicepExtensionsAndParameterFileMatchTheTemplates(t *testing.T) {
	var cfg struct {
		Extensions map[string]string `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(read(t, "infra/bicepconfig.json")), &cfg); err != nil {
		t.Fatalf("bicepconfig.json: %v", err)
	}
	use := regexp.MustCompile(`(?m)^extension ([A-Za-z0-9_]+)`)
	for _, file := range bicepFiles(t) {
		src, _ := os.ReadFile(file)
		for _, m := range use.FindAllStringSubmatch(string(src), -1) {
			if _, ok := cfg.Extensions[m[1]]; !ok {
				t.Errorf("%s uses extension %s, which bicepconfig.json does not define", file, m[1])
			}
		}
		for _, m := range regexp.MustCompile(`loadJsonContent\('([^']+)'\)`).FindAllStringSubmatch(string(src), -1) {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(file), m[1]))
			if err != nil || !json.Valid(data) {
				t.Errorf("%s loads %s, which is missing or not JSON (%v)", file, m[1], err)
			}
		}
	}
	var params struct {
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(read(t, "infra/main.parameters.json")), &params); err != nil {
		t.Fatalf("main.parameters.json: %v", err)
	}
	main := read(t, "infra/main.bicep")
	for name := range params.Parameters {
		if !regexp.MustCompile(`(?m)^param ` + name + ` `).MatchString(main) {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
	}
}

// The playbook's "containment" step set is every step of the catalog, and the workflow
// sends the steps parameter it is given.
func TestPlaybookContainmentStepSetIsTheCatalog(t *testing.T) {
	src := read(t, "infra/playbooks/sentinel-remediate/main.bicep")
	got := bicepArrayStrings(t, src, "containmentSteps")
	var want []string
	for _, n := range catalog.All {
		want = append(want, string(n))
	}
	if !slices.Equal(got, want) {
		t.Errorf("main.bicep containmentSteps = %v\nwant catalog.All %v", got, want)
	}
	if !strings.Contains(src, "steps: { value: stepSet == 'containment' ? containmentSteps : [] }") {
		t.Error("main.bicep does not pass the chosen step set to the workflow's steps parameter")
	}
	var wf struct {
		Parameters map[string]struct {
			Type string `json:"type"`
		} `json:"parameters"`
	}
	raw := read(t, "infra/playbooks/sentinel-remediate/workflow.json")
	if err := json.Unmarshal([]byte(raw), &wf); err != nil {
		t.Fatal(err)
	}
	if wf.Parameters["steps"].Type != "Array" {
		t.Errorf("workflow.json parameter steps = %+v, want an Array", wf.Parameters["steps"])
	}
	if !strings.Contains(raw, `"steps": "@parameters('steps')"`) {
		t.Error("the workflow's start request does not send the steps parameter")
	}
}

// With storageNetworkIsolation 'privateEndpoints' the storage account refuses the public
// network, so every storage service the app uses (blob for the Functions host and the Flex
// Consumption package, and each service of an AzureWebJobsStorage__<service>ServiceUri
// setting the handler reads) needs a private endpoint, a private DNS zone linked to the
// network and the endpoint's record in it: one missing, and the app cannot reach that service.
func TestIsolatedStorageHasAPrivateEndpointForEveryServiceTheAppUses(t *testing.T) {
	network := read(t, "infra/modules/network.bicep")
	want := []string{"blob"}
	serviceURI := regexp.MustCompile(`^AzureWebJobsStorage__([a-z]+)ServiceUri$`)
	for _, s := range config.Settings {
		if m := serviceURI.FindStringSubmatch(s); m != nil {
			want = append(want, m[1])
		}
	}
	if !strings.Contains(read(t, "infra/modules/functionapp.bicep"), "type: 'blobContainer'") {
		t.Error("functionapp.bicep no longer deploys from a blob container: check whether blob still needs a private endpoint")
	}
	if got := bicepArrayStrings(t, network, "storageServices"); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("network.bicep storageServices = %v, want the services the app uses %v", got, want)
	}
	// Each resource is made once per service, from that list.
	for _, tc := range []struct{ resource, loop, holds string }{
		{"Microsoft.Network/privateDnsZones@", "[for service in storageServices: {", "name: 'privatelink.${service}.${environment().suffixes.storage}'"},
		{"Microsoft.Network/privateDnsZones/virtualNetworkLinks@", "[for (service, i) in storageServices: {", "parent: dnsZones[i]"},
		{"Microsoft.Network/privateEndpoints@", "[for service in storageServices: {", "privateLinkServiceId: account.id"},
		{"Microsoft.Network/privateEndpoints/privateDnsZoneGroups@", "[for (service, i) in storageServices: {", "privateDnsZoneId: dnsZones[i].id"},
	} {
		decl := regexp.MustCompile(`(?m)^resource [A-Za-z]+ '` + regexp.QuoteMeta(tc.resource) + `[0-9-]+' = (.*)$`).FindStringSubmatch(network)
		if decl == nil || decl[1] != tc.loop {
			t.Errorf("network.bicep: no %s resource declared %s", tc.resource, tc.loop)
			continue
		}
		body := bicepBlock(t, network, decl[0])
		if !strings.Contains(body, tc.holds) {
			t.Errorf("network.bicep %s does not hold %q", tc.resource, tc.holds)
		}
	}
	if !regexp.MustCompile(`groupIds: \[\s+service\s+\]`).MatchString(network) || !regexp.MustCompile(`virtualNetwork: \{\s+id: vnet\.id`).MatchString(network) {
		t.Error("network.bicep: each endpoint must connect to its own service (groupIds [service]) and each zone be linked to the network")
	}
	if !strings.Contains(network, "hostingPlan == 'flex' ? 'Microsoft.App/environments' : 'Microsoft.Web/serverFarms'") {
		t.Error("network.bicep: the app subnet must be delegated to Microsoft.App/environments (Flex Consumption) or Microsoft.Web/serverFarms (dedicated)")
	}

	// The switch: the account refuses public requests, the app integrates with the network.
	main := read(t, "infra/main.bicep")
	for file, lines := range map[string][]string{
		"infra/main.bicep": {
			"@allowed(['none', 'privateEndpoints'])", "param storageNetworkIsolation string = 'none'",
			"var storageIsolated = storageNetworkIsolation == 'privateEndpoints'",
			"networkIsolated: storageIsolated",
			"module network 'modules/network.bicep' = if (storageIsolated) {",
			"virtualNetworkSubnetId: storageIsolated ? network!.outputs.appSubnetId : ''",
		},
		"infra/modules/storage.bicep": {
			"publicNetworkAccess: networkIsolated ? 'Disabled' : 'Enabled'",
			"defaultAction: networkIsolated ? 'Deny' : 'Allow'",
		},
		"infra/modules/functionapp.bicep": {
			"virtualNetworkSubnetId: vnetIntegrated ? virtualNetworkSubnetId : null",
		},
	} {
		src := main
		if file != "infra/main.bicep" {
			src = read(t, file)
		}
		for _, l := range lines {
			if !strings.Contains(src, l) {
				t.Errorf("%s lacks %q", file, l)
			}
		}
	}
	// Documented where deployments are: the parameter, its azd variable, why it is recommended.
	for _, doc := range []string{"README.md", "docs/deploy.md", "docs/security.md"} {
		text := read(t, doc)
		for _, s := range []string{"storageNetworkIsolation", "TOURNIQUET_STORAGE_NETWORK_ISOLATION"} {
			if !strings.Contains(text, s) {
				t.Errorf("%s does not mention %s", doc, s)
			}
		}
	}
}
