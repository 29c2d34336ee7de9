// Package queues sends messages to Azure Storage queues. Messages go out as plain text
// (host.json sets queues.messageEncoding to "none"), exactly as azqueue sends them.
package queues

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// Client enqueues messages, creating a queue the first time it is missing.
type Client struct {
	svc     *azqueue.ServiceClient
	timeout time.Duration
	mu      sync.Mutex
	created map[string]bool
}

// New returns a client for a queue service.
func New(svc *azqueue.ServiceClient) *Client {
	return &Client{svc: svc, timeout: 15 * time.Second, created: map[string]bool{}}
}

// Enqueue sends one message. The azqueue pipeline retries transient failures itself.
func (c *Client) Enqueue(ctx context.Context, queue string, message []byte) error {
	return c.EnqueueAfter(ctx, queue, message, 0)
}

// maxVisibilityDelay is the longest initial invisibility Azure Queue Storage accepts.
const maxVisibilityDelay = 7 * 24 * time.Hour

// EnqueueAfter sends one message that becomes visible after delay (whole seconds, rounded
// up: the service counts seconds), e.g. a throttled step sent again after Retry-After.
func (c *Client) EnqueueAfter(ctx context.Context, queue string, message []byte, delay time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var opts *azqueue.EnqueueMessageOptions
	if delay > 0 {
		secs := int32((min(delay, maxVisibilityDelay) + time.Second - 1) / time.Second)
		opts = &azqueue.EnqueueMessageOptions{VisibilityTimeout: &secs}
	}
	q := c.svc.NewQueueClient(queue)
	_, err := q.EnqueueMessage(ctx, string(message), opts)
	if isCode(err, "QueueNotFound") {
		if err := c.Ensure(ctx, queue); err != nil {
			return err
		}
		_, err = q.EnqueueMessage(ctx, string(message), opts)
	}
	if err != nil {
		return fmt.Errorf("queues.Enqueue %s: %w", queue, err)
	}
	return nil
}

// Ensure creates a queue (and its poison queue) when missing.
func (c *Client) Ensure(ctx context.Context, queue string) error {
	c.mu.Lock()
	done := c.created[queue]
	c.mu.Unlock()
	if done {
		return nil
	}
	for _, name := range []string{queue, queue + "-poison"} {
		_, err := c.svc.CreateQueue(ctx, name, nil)
		if err != nil && !isCode(err, "QueueAlreadyExists") {
			return fmt.Errorf("queues.Ensure %s: %w", name, err)
		}
	}
	c.mu.Lock()
	c.created[queue] = true
	c.mu.Unlock()
	return nil
}

func isCode(err error, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == code
}
