package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) string {
	base := map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AZURE_TENANT_ID": "t"}
	for k, v := range kv {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestEasyAuthNeedsAppServiceAuthentication(t *testing.T) {
	for value, ok := range map[string]bool{"": false, "false": false, "1": false, "True": true, "true": true, " TRUE ": true} {
		_, err := Load(env(map[string]string{"AUTH_MODE": "easyauth", "WEBSITE_AUTH_ENABLED": value}), t.TempDir())
		if ok != (err == nil) {
			t.Errorf("WEBSITE_AUTH_ENABLED=%q: %v", value, err)
		}
		if err != nil && !strings.Contains(err.Error(), "WEBSITE_AUTH_ENABLED=True") {
			t.Errorf("message does not say what to do: %v", err)
		}
	}
}

func TestRecordKeyIsBase64OfAtLeast32Bytes(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	c, err := Load(env(map[string]string{"TOURNIQUET_RECORD_KEY": good}), t.TempDir())
	if err != nil || len(c.RecordKey) != 32 {
		t.Fatalf("good key: %v (%d bytes)", err, len(c.RecordKey))
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := Load(env(map[string]string{"TOURNIQUET_RECORD_KEY": bad}), t.TempDir()); err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("key %q: %v (the error must not echo the key)", bad, err)
		}
	}
}
