package bench

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func TestTimelineOrdersCallsBySendTimeInMillisecondsFromTheStart(t *testing.T) {
	begin := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return begin.Add(time.Duration(ms * float64(time.Millisecond))) }
	log := []tenantsim.Request{
		{Service: tenantsim.ServiceExchange, Method: "POST", Path: "/adminapi/beta/t/InvokeCommand", Cmdlet: "Set-Mailbox", Start: at(60), End: at(110)},
		{Service: tenantsim.ServiceGraph, Method: "GET", Path: "/v1.0/users/a@b.example", Start: at(2), End: at(52.5)},
		{Service: tenantsim.ServiceGraph, Method: "POST", Path: "/v1.0/$batch", InBatch: true, Start: at(5), End: at(6)}, // an item of a batch: not a request of its own
		{Service: tenantsim.ServiceIdentity, Method: "GET", Path: "/msi/token", Start: at(1), End: at(1.5)},
	}
	u, _ := url.Parse("http://127.0.0.1:10002/devstoreaccount1/R1Runs(PartitionKey='20261130t090000-0123456789abcdef',RowKey='step-reset-password')")
	calls := append(TenantCalls(log), tableCall("PUT", u, at(53), at(55)))
	got := strings.Split(strings.TrimRight(Timeline(begin, calls), "\n"), "\n")
	want := []string{
		"   start      end    took  service  call",
		"     2.0     52.5    50.5  graph    GET /v1.0/users/a@b.example",
		"    53.0     55.0     2.0  table    PUT R1Runs(PartitionKey='20261130t090000-0123456789abcdef',RowKey='step-reset-password')",
		"    60.0    110.0    50.0  exchange Set-Mailbox",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTableCallsShowTheirFilter(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:10002/devstoreaccount1/R1Runs()?%24filter=PartitionKey+eq+%27r1%27")
	if got := tableCall("GET", u, time.Time{}, time.Time{}).What; got != "GET R1Runs()?$filter=PartitionKey eq 'r1'" {
		t.Fatalf("got %q", got)
	}
}

// LongestChain finds the longest chain of requests each sent only after the one before it
// was answered: the dependent requests a run actually waited for.
func TestLongestChainFollowsRequestsThatWaitedForTheirPredecessor(t *testing.T) {
	begin := time.Now()
	req := func(what string, start, end int) tenantsim.Request {
		return tenantsim.Request{Service: tenantsim.ServiceGraph, Method: "GET", Path: what,
			Start: begin.Add(time.Duration(start) * time.Millisecond), End: begin.Add(time.Duration(end) * time.Millisecond)}
	}
	tests := []struct {
		name string
		log  []tenantsim.Request
		want string
	}{
		{"nothing", nil, ""},
		{"all at once", []tenantsim.Request{req("a", 0, 50), req("b", 1, 51), req("c", 2, 52)}, "a"},
		{"one after another", []tenantsim.Request{req("a", 0, 50), req("b", 50, 100), req("c", 101, 150)}, "a b c"},
		{"the longer branch wins", []tenantsim.Request{req("user", 0, 50), req("short", 51, 104), req("list", 52, 102), req("remove", 103, 150), req("verify", 151, 200)}, "user list remove verify"},
		{"overlap is not waiting", []tenantsim.Request{req("a", 0, 50), req("b", 49, 99)}, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range LongestChain(tc.log) {
				got = append(got, r.Path)
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("chain %v, want %q", got, tc.want)
			}
			if n := ChainDepth(tc.log); n != len(got) {
				t.Errorf("ChainDepth %d, chain of %d", n, len(got))
			}
		})
	}
}
