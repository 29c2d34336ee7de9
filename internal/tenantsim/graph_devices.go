package tenantsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Device is an Entra ID device object (the device resource of Graph v1.0) and the users it
// belongs to.
type Device struct {
	ID              string // object id (PATCH /devices/{id}); set by AddDevice when empty
	DeviceID        string // deviceId of the Device Registration Service; set when empty
	DisplayName     string
	OperatingSystem string // "Windows", "iOS", "Android", "MacMDM", ...
	OSVersion       string
	TrustType       string // "Workplace" (registered), "AzureAd" (joined), "ServerAd" (hybrid)
	AccountEnabled  bool
	// Registered is registrationDateTime; zero renders null (the property is nullable).
	Registered time.Time
	LastSignIn time.Time // approximateLastSignInDateTime; zero renders null
	// RegisteredUsers and Owners are user object ids: the device is in the users'
	// registeredDevices and ownedDevices.
	RegisteredUsers []string
	Owners          []string
}

var deviceSpec = querySpec{
	entity: "microsoft.graph.device",
	selectable: []string{"id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType",
		"accountEnabled", "registrationDateTime", "approximateLastSignInDateTime", "isCompliant", "isManaged"},
	paged: true,
}

// deviceDefaultFields is what a listing without $select shows.
var deviceDefaultFields = deviceSpec.selectable

func deviceEntity(d *Device) map[string]any {
	at := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"@odata.type": "#microsoft.graph.device",
		"id":          d.ID, "deviceId": d.DeviceID, "displayName": d.DisplayName,
		"operatingSystem": d.OperatingSystem, "operatingSystemVersion": d.OSVersion, "trustType": nullable(d.TrustType),
		"accountEnabled": d.AccountEnabled, "registrationDateTime": at(d.Registered),
		"approximateLastSignInDateTime": at(d.LastSignIn), "isCompliant": nil, "isManaged": nil,
	}
}

// AddDevice adds a device and returns its object id.
func (s *Sim) AddDevice(d Device) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID == "" {
		d.ID = newGUID()
	}
	if d.DeviceID == "" {
		d.DeviceID = newGUID()
	}
	s.tenant.devices = append(s.tenant.devices, &d)
	return d.ID
}

// GetDevice returns the device with the object id, or false.
func (s *Sim) GetDevice(id string) (Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.tenant.device(id)
	if d == nil {
		return Device{}, false
	}
	return *d, true
}

// UserDeviceIDs returns the object ids of the devices the user registered or owns.
func (s *Sim) UserDeviceIDs(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.tenant.devices {
		if containsFold(d.RegisteredUsers, userID) || containsFold(d.Owners, userID) {
			out = append(out, d.ID)
		}
	}
	return out
}

// device finds a device by object id or deviceId: the Update device page addresses it by
// either.
func (t *tenant) device(id string) *Device {
	for _, d := range t.devices {
		if strings.EqualFold(d.ID, id) || strings.EqualFold(d.DeviceID, id) {
			return d
		}
	}
	return nil
}

// deviceReadRoles are the application permissions that read device objects in full; an
// identity that reads the user but holds none of them gets each device of a directoryObject
// listing with its @odata.type and id only ("Limited information returned for
// inaccessible member object types", named on the List registeredDevices page).
var deviceReadRoles = []string{"Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}

// listUserDevices is GET /users/{id}/registeredDevices and /ownedDevices (and their
// graph.device casts), paged.
func (s *Sim) listUserDevices(owned bool) graphHandler {
	return func(c *graphCall, p []string) graphResult {
		opts, bad := parseQuery(c.query, deviceSpec)
		if bad != nil {
			return *bad
		}
		s.mu.Lock()
		roles, rolesSet := s.roles["graph"]
		defer s.mu.Unlock()
		t := s.tenant
		u := t.user(p[0])
		if u == nil {
			return graphNotFound(p[0])
		}
		limited := rolesSet && !slices.ContainsFunc(deviceReadRoles, func(r string) bool { return slices.Contains(roles, r) })
		var items []map[string]any
		for _, d := range t.devices {
			of := d.RegisteredUsers
			if owned {
				of = d.Owners
			}
			if !containsFold(of, u.ID) {
				continue
			}
			e := project(deviceEntity(d), opts.selectFields, deviceDefaultFields)
			if limited {
				for k := range e {
					if k != "@odata.type" && k != "id" {
						e[k] = nil
					}
				}
			}
			items = append(items, e)
		}
		context := "devices"
		if !strings.HasSuffix(strings.ToLower(c.path), "device") {
			context = "directoryObjects"
		}
		return s.pageItems(c, opts, context+selectSuffix(opts.selectFields), items)
	}
}

// getDevice is GET /devices/{id}.
func (s *Sim) getDevice(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, deviceSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.tenant.device(p[0])
	if d == nil {
		return graphNotFound(p[0])
	}
	body := project(deviceEntity(d), opts.selectFields, deviceDefaultFields)
	body["@odata.context"] = c.metadataURL("devices" + selectSuffix(opts.selectFields) + "/$entity")
	return graphOK(body)
}

// patchDevice is PATCH /devices/{id}: accountEnabled (and the extension attributes, which
// the simulator does not keep). An application may change accountEnabled of Windows
// devices only: the Update device page says app-only calls on a non-Windows device update
// extensionAttributes alone, and Graph answers them 400 (microsoft-graph-docs issue 16641).
func (s *Sim) patchDevice(c *graphCall, p []string) graphResult {
	var patch map[string]json.RawMessage
	if res, ok := decodeJSONBody(c.body, &patch); !ok {
		return res
	}
	var enabled *bool
	for key, raw := range patch {
		switch {
		case strings.HasPrefix(key, "@odata."), key == "extensionAttributes":
		case key == "accountEnabled":
			if err := json.Unmarshal(raw, &enabled); err != nil || enabled == nil {
				return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value for property 'accountEnabled'.")
			}
		default:
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "The tenant simulator does not support updating property '"+key+"'.")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.tenant.device(p[0])
	if d == nil {
		return graphNotFound(p[0])
	}
	if enabled != nil {
		if strings.EqualFold(d.TrustType, "ServerAd") {
			// A hybrid-joined device is mastered in on-premises AD and synced: the same answer
			// as a synced user's (a guess: docs/simulator-fidelity.md).
			return graphErr(http.StatusBadRequest, "Request_BadRequest",
				"Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		}
		if !strings.EqualFold(d.OperatingSystem, "Windows") {
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "Properties other than ExtendedAttribute1..15 can be modified only on windows devices.")
		}
		d.AccountEnabled = *enabled
	}
	return graphNoContent()
}
