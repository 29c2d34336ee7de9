package server

import _ "embed"

// openAPIJSON describes the HTTP API (served at /api/openapi.json).
//
//go:embed openapi.json
var openAPIJSON []byte
