package hostemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults of the real host when host.json leaves a setting out.
const (
	defaultRoutePrefix       = "api"
	defaultMaxDequeueCount   = 5
	defaultBatchSize         = 16
	defaultFunctionTimeout   = 5 * time.Minute
	defaultMessageEncoding   = "base64"
	maxMessagesPerDequeueAPI = 32 // Azure Queue Storage's limit per Get Messages call
)

// hostFile is the part of host.json the emulator reads. encoding/json matches keys
// case-insensitively, like the host does.
type hostFile struct {
	FunctionTimeout string `json:"functionTimeout"`
	CustomHandler   struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
		Queues struct {
			MessageEncoding    string `json:"messageEncoding"`
			MaxDequeueCount    *int   `json:"maxDequeueCount"`
			VisibilityTimeout  string `json:"visibilityTimeout"`
			MaxPollingInterval string `json:"maxPollingInterval"`
			BatchSize          *int   `json:"batchSize"`
		} `json:"queues"`
	} `json:"extensions"`
}

// functionFile is one function.json.
type functionFile struct {
	Disabled bool          `json:"disabled"`
	Bindings []bindingFile `json:"bindings"`
}

type bindingFile struct {
	Type      string   `json:"type"`
	Direction string   `json:"direction"`
	Name      string   `json:"name"`
	Route     *string  `json:"route"`
	Methods   []string `json:"methods"`
	QueueName string   `json:"queueName"`
	Schedule  string   `json:"schedule"`
}

// appConfig is the app root as the emulator runs it.
type appConfig struct {
	executable      string
	workingDir      string
	arguments       []string
	forwardHTTP     bool
	routePrefix     string
	functionTimeout time.Duration // 0: no timeout ("-1" in host.json)
	queues          queueSettings
	functions       []*function
}

type queueSettings struct {
	base64Messages    bool
	maxDequeueCount   int64
	visibilityTimeout time.Duration
	// maxPollingInterval: an empty queue is polled less and less often, up to this (the
	// host's exponential backoff). 0 (host.json leaves it out): every PollInterval, unlike
	// the host's 1-minute default, so tests with their own host.json stay quick.
	maxPollingInterval time.Duration
	batchSize          int
}

type triggerKind int

const (
	httpTrigger triggerKind = iota + 1
	queueTrigger
	timerTrigger
)

// function is one function folder: its name (the folder, which is also the path the
// handler is invoked on) and its trigger.
type function struct {
	name        string
	kind        triggerKind
	bindingName string

	// HTTP
	route       routeTemplate
	methods     []string // upper case; empty means every method
	forwardable bool     // only httpTrigger in and http out: the request is forwarded as is

	// queue
	queueName string
}

// loadApp reads host.json and every <folder>/function.json under appRoot. lookup
// resolves %NAME% app-setting references in queue names and routes.
func loadApp(appRoot string, lookup func(string) (string, bool)) (*appConfig, error) {
	raw, err := os.ReadFile(filepath.Join(appRoot, "host.json"))
	if err != nil {
		return nil, fmt.Errorf("host.json: %w", err)
	}
	var hf hostFile
	if err := json.Unmarshal(raw, &hf); err != nil {
		return nil, fmt.Errorf("host.json: %w", err)
	}
	app, err := appFromHostFile(appRoot, hf)
	if err != nil {
		return nil, fmt.Errorf("host.json: %w", err)
	}

	entries, err := os.ReadDir(appRoot)
	if err != nil {
		return nil, fmt.Errorf("app root: %w", err)
	}
	for _, entry := range entries {
		if !entry.IsDir() {
			continue
		}
		fn, err := loadFunction(appRoot, entry.Name(), app.routePrefix, lookup)
		if err != nil {
			return nil, err
		}
		if fn != nil {
			app.functions = append(app.functions, fn)
		}
	}
	if len(app.functions) == 0 {
		return nil, fmt.Errorf("no function.json under %s", appRoot)
	}
	return app, nil
}

func appFromHostFile(appRoot string, hf hostFile) (*appConfig, error) {
	desc := hf.CustomHandler.Description
	if desc.DefaultExecutablePath == "" {
		return nil, errors.New("customHandler.description.defaultExecutablePath is empty")
	}
	app := &appConfig{
		executable:      resolveUnder(appRoot, desc.DefaultExecutablePath),
		workingDir:      resolveUnder(appRoot, desc.WorkingDirectory),
		arguments:       desc.Arguments,
		forwardHTTP:     hf.CustomHandler.EnableForwardingHttpRequest,
		routePrefix:     defaultRoutePrefix,
		functionTimeout: defaultFunctionTimeout,
		queues: queueSettings{
			base64Messages:  true,
			maxDequeueCount: defaultMaxDequeueCount,
			batchSize:       defaultBatchSize,
		},
	}
	if p := hf.Extensions.HTTP.RoutePrefix; p != nil {
		app.routePrefix = strings.Trim(*p, "/")
	}
	if t := strings.TrimSpace(hf.FunctionTimeout); t == "-1" {
		app.functionTimeout = 0
	} else if t != "" {
		d, err := parseTimeSpan(t)
		if err != nil {
			return nil, fmt.Errorf("functionTimeout: %w", err)
		}
		app.functionTimeout = d
	}

	q := hf.Extensions.Queues
	switch enc := strings.ToLower(q.MessageEncoding); enc {
	case "", defaultMessageEncoding:
	case "none":
		app.queues.base64Messages = false
	default:
		return nil, fmt.Errorf("extensions.queues.messageEncoding %q: want base64 or none", q.MessageEncoding)
	}
	if q.MaxDequeueCount != nil {
		if *q.MaxDequeueCount < 1 {
			return nil, fmt.Errorf("extensions.queues.maxDequeueCount %d: want at least 1", *q.MaxDequeueCount)
		}
		app.queues.maxDequeueCount = int64(*q.MaxDequeueCount)
	}
	if q.BatchSize != nil {
		if *q.BatchSize < 1 {
			return nil, fmt.Errorf("extensions.queues.batchSize %d: want at least 1", *q.BatchSize)
		}
		app.queues.batchSize = *q.BatchSize
	}
	if q.VisibilityTimeout != "" {
		d, err := parseTimeSpan(q.VisibilityTimeout)
		if err != nil {
			return nil, fmt.Errorf("extensions.queues.visibilityTimeout: %w", err)
		}
		app.queues.visibilityTimeout = d
	}
	if q.MaxPollingInterval != "" {
		d, err := parseTimeSpan(q.MaxPollingInterval)
		if err != nil {
			return nil, fmt.Errorf("extensions.queues.maxPollingInterval: %w", err)
		}
		app.queues.maxPollingInterval = d
	}
	return app, nil
}

// loadFunction reads one function folder; it returns nil for a folder without
// function.json (the host skips those too) and for a disabled function.
func loadFunction(appRoot, name, routePrefix string, lookup func(string) (string, bool)) (*function, error) {
	raw, err := os.ReadFile(filepath.Join(appRoot, name, "function.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	var ff functionFile
	if err := json.Unmarshal(raw, &ff); err != nil {
		return nil, fmt.Errorf("function %s: function.json: %w", name, err)
	}
	if ff.Disabled {
		return nil, nil
	}
	if v, ok := lookup("AzureWebJobs." + name + ".Disabled"); ok && strings.EqualFold(v, "true") {
		return nil, nil
	}
	fn, err := functionFromBindings(name, ff.Bindings, routePrefix, lookup)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	return fn, nil
}

func functionFromBindings(name string, bindings []bindingFile, routePrefix string, lookup func(string) (string, bool)) (*function, error) {
	var trigger *bindingFile
	for i := range bindings {
		if strings.HasSuffix(strings.ToLower(bindings[i].Type), "trigger") {
			if trigger != nil {
				return nil, errors.New("more than one trigger binding")
			}
			trigger = &bindings[i]
		}
	}
	if trigger == nil {
		return nil, errors.New("no trigger binding")
	}
	fn := &function{name: name, bindingName: trigger.Name}

	switch strings.ToLower(trigger.Type) {
	case "httptrigger":
		fn.kind = httpTrigger
		template := name // the host's default route is the function name
		if trigger.Route != nil {
			resolved, err := resolveSettings(*trigger.Route, lookup)
			if err != nil {
				return nil, fmt.Errorf("route: %w", err)
			}
			template = resolved
		}
		route, err := compileRoute(routePrefix, template)
		if err != nil {
			return nil, err
		}
		fn.route = route
		for _, m := range trigger.Methods {
			fn.methods = append(fn.methods, strings.ToUpper(m))
		}
		fn.forwardable = isHTTPInAndOut(bindings)
	case "queuetrigger":
		fn.kind = queueTrigger
		queue, err := resolveSettings(trigger.QueueName, lookup)
		if err != nil {
			return nil, fmt.Errorf("queueName: %w", err)
		}
		if queue == "" {
			return nil, errors.New("queueTrigger without queueName")
		}
		fn.queueName = queue
	case "timertrigger":
		// The emulator fires timers only on request (FireTimer), so the schedule is not read.
		fn.kind = timerTrigger
	default:
		return nil, fmt.Errorf("trigger type %q is not emulated", trigger.Type)
	}
	return fn, nil
}

// isHTTPInAndOut reports whether a function has exactly an httpTrigger in and an http
// out binding: only those are forwarded as is under enableForwardingHttpRequest.
func isHTTPInAndOut(bindings []bindingFile) bool {
	if len(bindings) != 2 {
		return false
	}
	var in, out bool
	for _, b := range bindings {
		switch {
		case strings.EqualFold(b.Type, "httpTrigger") && strings.EqualFold(b.Direction, "in"):
			in = true
		case strings.EqualFold(b.Type, "http") && strings.EqualFold(b.Direction, "out"):
			out = true
		}
	}
	return in && out
}

var settingReference = regexp.MustCompile(`%([^%]+)%`)

// resolveSettings replaces %NAME% with the app setting NAME, as the host does for
// binding properties; a missing setting is an error there too.
func resolveSettings(value string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	resolved := settingReference.ReplaceAllStringFunc(value, func(ref string) string {
		name := strings.Trim(ref, "%")
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("app setting %s is not set", strings.Join(missing, ", "))
	}
	return resolved, nil
}

func resolveUnder(root, path string) string {
	if path == "" {
		return root
	}
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}
