package tenantsim

import (
	"net/http"
	"slices"
	"strings"
)

func (s *Sim) getGroup(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, groupSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.tenant.group(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	body := project(groupEntity(g), opts.selectFields, groupDefaultFields)
	delete(body, "@odata.type") // not on a plain entity read
	body["@odata.context"] = c.metadataURL("groups" + selectSuffix(opts.selectFields) + "/$entity")
	return graphOK(body)
}

func (s *Sim) listGroupMembers(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, querySpec{entity: "microsoft.graph.directoryObject", paged: true})
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := t.group(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	var items []map[string]any
	for _, id := range t.members[g.ID] {
		if u := t.user(id); u != nil {
			m := project(userEntity(u), opts.selectFields, userDefaultFields)
			m["@odata.type"] = "#microsoft.graph.user"
			items = append(items, m)
		}
	}
	return s.pageItems(c, opts, "directoryObjects", items)
}

// addGroupMember is POST /groups/{id}/members/$ref {"@odata.id": ".../directoryObjects/{id}"}.
func (s *Sim) addGroupMember(c *graphCall, p []string) graphResult {
	var in struct {
		ODataID string `json:"@odata.id"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	userID := lastSegment(in.ODataID)
	if userID == "" {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+in.ODataID+"'.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := t.group(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	u := t.user(userID)
	if u == nil {
		return graphNotFound(userID)
	}
	if !t.addMember(g.ID, u.ID) {
		return graphErr(http.StatusBadRequest, "Request_BadRequest",
			"One or more added object references already exist for the following modified properties: 'members'.")
	}
	return graphNoContent()
}

// removeGroupMember is DELETE /groups/{gid}/members/{uid}/$ref.
func (s *Sim) removeGroupMember(_ *graphCall, p []string) graphResult {
	return s.removeMember(p[0], p[1])
}

// removeGroupMemberByQuery is the newer form DELETE /groups/{gid}/members/$ref?$id=<url>
// (the SDK writes "@id").
func (s *Sim) removeGroupMemberByQuery(c *graphCall, p []string) graphResult {
	ref := c.query.Get("$id")
	if ref == "" {
		ref = c.query.Get("@id")
	}
	if lastSegment(ref) == "" {
		return graphBadRequest("The $id query parameter naming the member is required.")
	}
	return s.removeMember(p[0], lastSegment(ref))
}

func (s *Sim) removeMember(groupID, userID string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := t.group(groupID)
	if g == nil {
		return graphNotFound(groupID)
	}
	i := slices.IndexFunc(t.members[g.ID], func(m string) bool { return strings.EqualFold(m, userID) })
	if i < 0 {
		return graphNotFound(userID)
	}
	t.members[g.ID] = slices.Delete(t.members[g.ID], i, i+1)
	return graphNoContent()
}

// lastSegment returns the id at the end of an object URL such as
// https://graph.microsoft.com/v1.0/directoryObjects/{id}.
func lastSegment(ref string) string {
	ref = strings.TrimRight(strings.TrimSpace(ref), "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	return ref
}
