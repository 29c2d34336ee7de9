package hostemu

import (
	"io"
	"sync"
)

// outputTailSize is how much of the handler's latest output errors quote.
const outputTailSize = 32 << 10

// logWriter serializes writes from the handler's stdout and stderr and from the
// emulator itself to the caller's writer, and keeps the tail for error messages.
type logWriter struct {
	mu   sync.Mutex
	dst  io.Writer
	tail []byte
}

func newLogWriter(dst io.Writer) *logWriter {
	if dst == nil {
		dst = io.Discard
	}
	return &logWriter{dst: dst}
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if over := len(l.tail) - outputTailSize; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	// The caller's writer failing must not break the handler's pipes.
	_, _ = l.dst.Write(p)
	return len(p), nil
}

// Tail returns the latest output.
func (l *logWriter) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.tail)
}
