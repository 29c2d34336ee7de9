package graph

import (
	"context"
	"net/http"
	"testing"
)

func TestRoleAssignableGroups(t *testing.T) {
	f := newFakeGraph(t)
	path := "/users/" + userID + "/memberOf/graph.group"
	f.on("GET", path, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, http.StatusOK, collection([]any{
				map[string]any{"id": groupID, "displayName": "PIM Admins", "isAssignableToRole": true},
				map[string]any{"id": "g-plain", "displayName": "All Staff", "isAssignableToRole": false},
			}, f.baseURL()+path+"?$skiptoken=2"))
			return
		}
		writeJSON(w, http.StatusOK, collection([]any{
			map[string]any{"id": "g-null", "displayName": "Old", "isAssignableToRole": nil},
			map[string]any{"id": "g-two", "displayName": "Exchange Admins", "isAssignableToRole": true},
		}, ""))
	})
	got, err := newTestClient(t, f).RoleAssignableGroups(context.Background(), userID)
	if err != nil {
		t.Fatalf("RoleAssignableGroups: %v", err)
	}
	// A group whose isAssignableToRole did not come back is listed, marked unknown: it may
	// hold Global Administrator, and the last-Global-Administrator guard matches group ids.
	want := []Group{{ID: groupID, DisplayName: "PIM Admins", IsAssignableToRole: true}, {ID: "g-null", DisplayName: "Old", AssignableUnknown: true}, {ID: "g-two", DisplayName: "Exchange Admins", IsAssignableToRole: true}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("groups = %+v, want %+v", got, want)
	}
	if sel := f.seen()[0].Query.Get("$select"); sel != "id,displayName,isAssignableToRole" {
		t.Errorf("$select = %q", sel)
	}
}

func TestRemoveGroupMember(t *testing.T) {
	f := newFakeGraph(t)
	f.on("DELETE", "/groups/"+groupID+"/members/"+userID+"/$ref", noContent)
	if err := newTestClient(t, f).RemoveGroupMember(context.Background(), groupID, userID); err != nil {
		t.Fatalf("RemoveGroupMember: %v", err)
	}
	if n := len(f.seen()); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
}

func TestAddGroupMember(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		wantErr bool
	}{
		{"added", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, false},
		{"already a member", func(w http.ResponseWriter) {
			graphError(w, 400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		}, false},
		{"other bad request", func(w http.ResponseWriter) {
			graphError(w, 400, "Request_BadRequest", "Invalid object identifier.")
		}, true},
		{"forbidden", func(w http.ResponseWriter) {
			graphError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("POST", "/groups/"+groupID+"/members/$ref", func(w http.ResponseWriter, _ *http.Request, _ []byte) { tt.answer(w) })
			err := newTestClient(t, f).AddGroupMember(context.Background(), groupID, userID)
			if (err != nil) != tt.wantErr {
				t.Errorf("AddGroupMember error = %v, wantErr %v", err, tt.wantErr)
			}
			body := decodeJSON(t, f.seen()[0].Body)
			if want := f.baseURL() + "/directoryObjects/" + userID; body["@odata.id"] != want {
				t.Errorf("@odata.id = %v, want %s", body["@odata.id"], want)
			}
		})
	}
}
