package azurite

import (
	"fmt"
	"strings"
)

// Azurite's single built-in account. The key is public (documented by Microsoft for the
// emulator), not a secret.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

const loopbackHost = "127.0.0.1"

// serviceURL is the path-style URL of one Azurite service: Azurite takes the account
// name from the first path segment.
func serviceURL(port int) string {
	return fmt.Sprintf("http://%s:%d/%s", loopbackHost, port, AccountName)
}

// connectionString names every endpoint explicitly: neither aztables nor azqueue accepts
// UseDevelopmentStorage=true.
func connectionString(tablePort, queuePort int) string {
	return "DefaultEndpointsProtocol=http;" +
		"AccountName=" + AccountName + ";" +
		"AccountKey=" + AccountKey + ";" +
		"TableEndpoint=" + serviceURL(tablePort) + ";" +
		"QueueEndpoint=" + serviceURL(queuePort) + ";"
}

// instanceFromConnectionString describes an Azurite that someone else started (and
// stops), e.g. the test command that shares one instance between all test binaries.
func instanceFromConnectionString(connStr string) (*Instance, error) {
	fields := map[string]string{}
	for _, part := range strings.Split(connStr, ";") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[strings.ToLower(key)] = value
		}
	}
	inst := &Instance{
		ConnectionString: connStr,
		TableURL:         strings.TrimSuffix(fields["tableendpoint"], "/"),
		QueueURL:         strings.TrimSuffix(fields["queueendpoint"], "/"),
	}
	if inst.TableURL == "" || inst.QueueURL == "" {
		return nil, fmt.Errorf("connection string needs both TableEndpoint and QueueEndpoint")
	}
	return inst, nil
}
