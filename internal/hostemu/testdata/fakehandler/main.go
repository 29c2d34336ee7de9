// Command fakehandler is a stand-in custom handler for the hostemu tests. It appends
// every request it receives to the JSON-lines file named by FAKE_RECORD_FILE and
// answers according to the function it is invoked for:
//
//	GET /            404 (the host's readiness ping only needs an answer)
//	/api/...         201, echoes the request as JSON, header X-Fake-Handler: echo
//	POST /QueueOK    200 {"Outputs":{},"Logs":["handled"],"ReturnValue":null}
//	POST /QueueFail  500
//	POST /QueueText  200 text/plain (breaks the host's contract)
//	POST /QueueNull  200 application/json null (breaks the host's contract)
//	POST /QueueHang  first delivery (DequeueCount "1") never answers; later ones 200 {}
//	POST /Sweep      200 {}
//
// FAKE_START_DELAY (a Go duration) delays listening, to exercise readiness polling.
package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

// request is one line of the record file.
type request struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

type recorder struct {
	mu   sync.Mutex
	file *os.File
}

func (r *recorder) add(req request) {
	line, err := json.Marshal(req)
	if err != nil {
		log.Printf("fakehandler: encode record: %v", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.file.Write(append(line, '\n')); err != nil {
		log.Printf("fakehandler: write record: %v", err)
	}
}

func main() {
	if d, err := time.ParseDuration(os.Getenv("FAKE_START_DELAY")); err == nil {
		time.Sleep(d)
	}
	file, err := os.OpenFile(os.Getenv("FAKE_RECORD_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatalf("fakehandler: record file: %v", err)
	}
	rec := &recorder{file: file}
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	log.Printf("fakehandler: listening on %s", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, handler(rec)))
}

func handler(rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
			Header: r.Header, Body: string(body),
		}
		rec.add(req)

		switch r.URL.Path {
		case "/":
			http.NotFound(w, r)
		case "/QueueOK":
			writeJSON(w, `{"Outputs":{},"Logs":["handled"],"ReturnValue":null}`)
		case "/QueueFail":
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
		case "/QueueText":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok")
		case "/QueueNull":
			writeJSON(w, "null")
		case "/QueueHang":
			if firstDelivery(body) {
				<-r.Context().Done() // until the process is killed
				return
			}
			writeJSON(w, "{}")
		case "/Sweep":
			writeJSON(w, "{}")
		default:
			echo(w, req)
		}
	}
}

func firstDelivery(body []byte) bool {
	var envelope struct {
		Metadata struct {
			DequeueCount string `json:"DequeueCount"`
		} `json:"Metadata"`
	}
	return json.Unmarshal(body, &envelope) == nil && envelope.Metadata.DequeueCount == "1"
}

func echo(w http.ResponseWriter, req request) {
	answer, _ := json.Marshal(map[string]any{
		"request":    req,
		"storageSet": os.Getenv("AzureWebJobsStorage") != "",
		"extra":      os.Getenv("FAKE_EXTRA"),
	})
	w.Header().Set("X-Fake-Handler", "echo")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(answer)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}
