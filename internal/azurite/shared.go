package azurite

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// EnvConnectionString names the variable through which a test command shares one
// already running Azurite with every test binary.
const EnvConnectionString = "TOURNIQUET_AZURITE_CONNECTION_STRING"

// sharedInstance is the one Azurite of this test binary. A package-level Once is the
// point: every test in the binary must get the same instance.
var sharedInstance struct {
	once sync.Once
	inst *Instance
	err  error
}

// Shared returns one Instance per process: the Azurite named by
// TOURNIQUET_AZURITE_CONNECTION_STRING when set, else one started on first use. The
// started one is never stopped explicitly; it dies with the test binary (the child is
// started with a parent-death signal on Linux). Tests sharing it must use their own
// table and queue names.
func Shared(ctx context.Context) (*Instance, error) {
	sharedInstance.once.Do(func() {
		if connStr := os.Getenv(EnvConnectionString); connStr != "" {
			inst, err := instanceFromConnectionString(connStr)
			if err != nil {
				sharedInstance.err = fmt.Errorf("azurite.Shared: %s: %w", EnvConnectionString, err)
				return
			}
			sharedInstance.inst = inst
			return
		}
		inst, err := Start(ctx)
		if err != nil {
			sharedInstance.err = fmt.Errorf("azurite.Shared: %w", err)
			return
		}
		sharedInstance.inst = inst
	})
	return sharedInstance.inst, sharedInstance.err
}
