package hostemu

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

const (
	// processingVisibility hides a message while it is being processed, like the host's
	// 10-minute receive (the host also renews it; invocations here are shorter).
	processingVisibility = 10 * time.Minute
	// storageCallTimeout bounds the emulator's own storage calls after an invocation,
	// which must happen even while Stop cancels invocations.
	storageCallTimeout = 30 * time.Second
	poisonSuffix       = "-poison"
)

// queueListener delivers the messages of one queue to one function.
type queueListener struct {
	host   *Host
	fn     *function
	queue  *azqueue.QueueClient
	poison *azqueue.QueueClient
}

// ensureQueues creates every trigger queue and its poison queue if missing.
func ensureQueues(ctx context.Context, svc *azqueue.ServiceClient, functions []*function) error {
	for _, fn := range functions {
		if fn.kind != queueTrigger {
			continue
		}
		for _, name := range []string{fn.queueName, fn.queueName + poisonSuffix} {
			_, err := svc.CreateQueue(ctx, name, nil)
			if err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
				return fmt.Errorf("create queue %s: %w", name, err)
			}
		}
	}
	return nil
}

// run polls until ctx ends, keeping at most batchSize invocations in flight.
func (l *queueListener) run(ctx context.Context) {
	h := l.host
	slots := make(chan struct{}, h.app.queues.batchSize)
	wait := h.opts.PollInterval // the pause after an empty poll, doubled up to maxPollingInterval
	for {
		if err := h.ready.wait(ctx); err != nil {
			return
		}
		free := cap(slots) - len(slots)
		if free == 0 {
			if !sleep(ctx, h.opts.PollInterval) {
				return
			}
			continue
		}
		resp, err := l.queue.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages:  int32Ptr(min(free, maxMessagesPerDequeueAPI)),
			VisibilityTimeout: int32Ptr(int(processingVisibility / time.Second)),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(h.log, "hostemu: dequeue %s: %v\n", l.fn.queueName, err)
		}
		if len(resp.Messages) == 0 {
			if !sleep(ctx, wait) {
				return
			}
			wait = min(2*wait, max(h.app.queues.maxPollingInterval, h.opts.PollInterval))
			continue
		}
		wait = h.opts.PollInterval
		for _, msg := range resp.Messages {
			slots <- struct{}{}
			h.inflight.Add(1)
			h.running.Add(1)
			go func() {
				defer func() {
					h.inflight.Add(-1)
					h.running.Done()
					<-slots
				}()
				l.process(h.invokeCtx, msg)
			}()
		}
	}
}

// process delivers one message and settles it as the host does: delete on success;
// on failure move it to the poison queue once DequeueCount reached maxDequeueCount,
// else make it visible again after visibilityTimeout.
func (l *queueListener) process(ctx context.Context, dm *azqueue.DequeuedMessage) {
	h := l.host
	msg := queueMessage{
		ID:              deref(dm.MessageID),
		PopReceipt:      deref(dm.PopReceipt),
		DequeueCount:    deref(dm.DequeueCount),
		InsertionTime:   deref(dm.InsertionTime),
		ExpirationTime:  deref(dm.ExpirationTime),
		NextVisibleTime: deref(dm.TimeNextVisible),
	}
	rawText := deref(dm.MessageText)
	maxCount := h.app.queues.maxDequeueCount

	// A message that already went past the limit (a crash during its last delivery) is
	// poisoned without being delivered again, as the host does.
	if msg.DequeueCount > maxCount {
		l.settle(msg, rawText, false)
		return
	}

	started := time.Now()
	status, err := 0, error(nil)
	msg.Text, err = decodeMessage(rawText, h.app.queues.base64Messages)
	if err == nil {
		status, err = h.invoke(ctx, l.fn.name, queueInvocation(l.fn.name, l.fn.bindingName, msg, started))
	}
	h.record(Invocation{
		Function: l.fn.name, Queue: l.fn.queueName, MessageID: msg.ID,
		DequeueCount: int(msg.DequeueCount), Status: status, Error: errorText(err), At: started,
	})
	if err != nil && ctx.Err() != nil {
		// The emulator is stopping: hand the message back untouched for the next host.
		l.release(msg, rawText, 0)
		return
	}
	l.settle(msg, rawText, err == nil)
}

func (l *queueListener) settle(msg queueMessage, rawText string, succeeded bool) {
	switch {
	case succeeded:
		l.storageCall("delete", func(ctx context.Context) error {
			_, err := l.queue.DeleteMessage(ctx, msg.ID, msg.PopReceipt, nil)
			return err
		})
	case msg.DequeueCount >= l.host.app.queues.maxDequeueCount:
		l.storageCall("move to poison queue", func(ctx context.Context) error {
			if _, err := l.poison.EnqueueMessage(ctx, rawText, nil); err != nil {
				return err
			}
			_, err := l.queue.DeleteMessage(ctx, msg.ID, msg.PopReceipt, nil)
			return err
		})
	default:
		l.release(msg, rawText, l.host.app.queues.visibilityTimeout)
	}
}

// release makes the message visible again after delay.
func (l *queueListener) release(msg queueMessage, rawText string, delay time.Duration) {
	l.storageCall("release", func(ctx context.Context) error {
		_, err := l.queue.UpdateMessage(ctx, msg.ID, msg.PopReceipt, rawText, &azqueue.UpdateMessageOptions{
			VisibilityTimeout: int32Ptr(int(delay.Round(time.Second) / time.Second)),
		})
		return err
	})
}

// storageCall runs a settlement call with its own timeout: it must run even when the
// invocation's context was canceled. Failures are logged; the message then simply
// becomes visible again when its processing visibility runs out.
func (l *queueListener) storageCall(what string, call func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), storageCallTimeout)
	defer cancel()
	if err := call(ctx); err != nil {
		fmt.Fprintf(l.host.log, "hostemu: %s message in %s: %v\n", what, l.fn.queueName, err)
	}
}

func decodeMessage(raw string, base64Encoded bool) (string, error) {
	if !base64Encoded {
		return raw, nil
	}
	decoded, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", errors.New("message is not base64 (host.json messageEncoding is base64)")
	}
	return string(decoded), nil
}

// queueLength counts the messages in a queue, invisible ones included.
func queueLength(ctx context.Context, q *azqueue.QueueClient) (int, error) {
	props, err := q.GetProperties(ctx, nil)
	if err != nil {
		return 0, err
	}
	return int(deref(props.ApproximateMessagesCount)), nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func int32Ptr(n int) *int32 {
	v := int32(n)
	return &v
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
