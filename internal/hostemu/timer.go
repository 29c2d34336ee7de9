package hostemu

import (
	"context"
	"fmt"
	"time"
)

// FireTimer invokes a timer-triggered function once, as if its schedule had come due.
// It returns the handler's HTTP status (0 without an answer) and an error when the
// function is not a timer function or the invocation failed.
func (h *Host) FireTimer(ctx context.Context, functionName string) (int, error) {
	fn := h.function(functionName)
	if fn == nil || fn.kind != timerTrigger {
		return 0, fmt.Errorf("hostemu.FireTimer: %s is not a timer-triggered function", functionName)
	}
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	started := time.Now()
	status, err := h.invoke(ctx, fn.name, timerInvocation(fn.name, fn.bindingName, started))
	h.record(Invocation{Function: fn.name, Status: status, Error: errorText(err), At: started})
	if err != nil {
		return status, fmt.Errorf("hostemu.FireTimer: %w", err)
	}
	return status, nil
}

func (h *Host) function(name string) *function {
	for _, fn := range h.app.functions {
		if fn.name == name {
			return fn
		}
	}
	return nil
}
