package graph

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func scheduleJSON(id string, info map[string]any, extra map[string]any) map[string]any {
	s := map[string]any{
		"id": id, "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/",
		"memberType": "Direct", "status": "Provisioned", "scheduleInfo": info,
		"roleDefinition": map[string]any{"id": roleID, "displayName": "Global Administrator", "isBuiltIn": true, "templateId": roleID},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func TestEligibleSchedulesReadExpirations(t *testing.T) {
	start := "2025-03-01T08:00:00Z"
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleEligibilitySchedules", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{
			scheduleJSON("never", map[string]any{"startDateTime": start, "expiration": map[string]any{"type": "noExpiration"}}, nil),
			scheduleJSON("dated", map[string]any{"startDateTime": start, "expiration": map[string]any{"type": "afterDateTime", "endDateTime": "2026-03-01T08:00:00Z"}}, nil),
			scheduleJSON("duration", map[string]any{"startDateTime": start, "expiration": map[string]any{"type": "afterDuration", "duration": "PT8H"}}, nil),
		}, ""))
	})
	got, err := newTestClient(t, f).EligibleSchedules(context.Background(), userID)
	if err != nil {
		t.Fatalf("EligibleSchedules: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d schedules, want 3", len(got))
	}
	wantStart := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	never, dated, duration := got[0], got[1], got[2]
	if !never.NoExpiration || never.End != nil || never.Start == nil || !never.Start.Equal(wantStart) {
		t.Errorf("noExpiration schedule = %+v", never)
	}
	if never.RoleName != "Global Administrator" || never.MemberType != "Direct" || never.PrincipalID != userID || never.AssignmentType != "" {
		t.Errorf("schedule fields = %+v", never)
	}
	if dated.NoExpiration || dated.End == nil || !dated.End.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("afterDateTime schedule = %+v", dated)
	}
	if duration.End == nil || !duration.End.Equal(wantStart.Add(8*time.Hour)) {
		t.Errorf("afterDuration schedule = %+v", duration)
	}
	q := f.seen()[0].Query
	if q.Get("$filter") != "principalId eq '"+userID+"'" || q.Get("$expand") != "roleDefinition" {
		t.Errorf("query = %v", q)
	}
}

func TestActiveSchedulesKeepAssignmentType(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleAssignmentSchedules", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{
			scheduleJSON("act", map[string]any{"startDateTime": "2025-03-01T08:00:00Z", "expiration": map[string]any{"type": "noExpiration"}},
				map[string]any{"assignmentType": "Activated"}),
		}, ""))
	})
	got, err := newTestClient(t, f).ActiveSchedules(context.Background(), userID)
	if err != nil {
		t.Fatalf("ActiveSchedules: %v", err)
	}
	if len(got) != 1 || got[0].AssignmentType != "Activated" || got[0].ID != "act" {
		t.Errorf("schedules = %+v", got)
	}
}

func TestScheduleRequests(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	end := now.Add(30 * 24 * time.Hour)
	base := RoleSchedule{ID: "s1", PrincipalID: userID, RoleDefinitionID: roleID, DirectoryScopeID: "/", MemberType: "Direct"}
	dated := base
	dated.End = &end
	never := base
	never.NoExpiration = true

	type call func(c *Client) error
	tests := []struct {
		name, path, action string
		do                 call
		wantExpiration     map[string]any // nil: no scheduleInfo expected
	}{
		{"remove eligible", "/roleManagement/directory/roleEligibilityScheduleRequests", "adminRemove",
			func(c *Client) error { return c.RemoveEligible(context.Background(), dated, "compromised") }, nil},
		{"remove active", "/roleManagement/directory/roleAssignmentScheduleRequests", "adminRemove",
			func(c *Client) error { return c.RemoveActive(context.Background(), dated, "compromised") }, nil},
		{"grant eligible with end", "/roleManagement/directory/roleEligibilityScheduleRequests", "adminAssign",
			func(c *Client) error { return c.GrantEligible(context.Background(), dated, "compromised") },
			map[string]any{"type": "afterDateTime", "endDateTime": end.Format(time.RFC3339)}},
		{"grant active without expiration", "/roleManagement/directory/roleAssignmentScheduleRequests", "adminAssign",
			func(c *Client) error { return c.GrantActive(context.Background(), never, "compromised") },
			map[string]any{"type": "noExpiration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("POST", tt.path, func(w http.ResponseWriter, _ *http.Request, body []byte) {
				in := decodeJSON(t, body)
				in["id"], in["status"] = "req-1", "Provisioned"
				writeJSON(w, http.StatusCreated, in)
			})
			c := newTestClient(t, f)
			c.now = func() time.Time { return now }

			if err := tt.do(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			body := decodeJSON(t, f.seen()[0].Body)
			if body["action"] != tt.action || body["principalId"] != userID || body["roleDefinitionId"] != roleID ||
				body["directoryScopeId"] != "/" || body["justification"] != "compromised" {
				t.Errorf("body = %v, want action %s with the schedule's principal, role, scope and justification", body, tt.action)
			}
			info, hasInfo := body["scheduleInfo"].(map[string]any)
			if tt.wantExpiration == nil {
				if hasInfo {
					t.Errorf("adminRemove carries scheduleInfo %v", info)
				}
				return
			}
			startAt, err := time.Parse(time.RFC3339, info["startDateTime"].(string))
			if err != nil || !startAt.Equal(now) {
				t.Errorf("startDateTime = %v, want now (%s)", info["startDateTime"], now)
			}
			expiration, _ := info["expiration"].(map[string]any)
			if expiration["type"] != tt.wantExpiration["type"] {
				t.Errorf("expiration = %v, want %v", expiration, tt.wantExpiration)
			}
			if wantEnd, ok := tt.wantExpiration["endDateTime"].(string); ok {
				gotEnd, err := time.Parse(time.RFC3339, expiration["endDateTime"].(string))
				if err != nil || !gotEnd.Equal(end) {
					t.Errorf("endDateTime = %v, want %s", expiration["endDateTime"], wantEnd)
				}
			}
		})
	}
}

func TestGrantOfAnEndedScheduleSendsNothing(t *testing.T) {
	f := newFakeGraph(t)
	c := newTestClient(t, f)
	past := time.Now().Add(-time.Hour)
	s := RoleSchedule{PrincipalID: userID, RoleDefinitionID: roleID, DirectoryScopeID: "/", End: &past}

	if err := c.GrantEligible(context.Background(), s, "restore"); !errors.Is(err, ErrScheduleEnded) {
		t.Errorf("GrantEligible error = %v, want ErrScheduleEnded", err)
	}
	if err := c.GrantActive(context.Background(), s, "restore"); !errors.Is(err, ErrScheduleEnded) {
		t.Errorf("GrantActive error = %v, want ErrScheduleEnded", err)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}
