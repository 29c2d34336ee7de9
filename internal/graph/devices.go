package graph

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/devices"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Device is the part of an Entra ID device object block-sign-in's disableDevices option
// needs (the device resource of Graph v1.0).
type Device struct {
	ID              string // the directory object id: what PATCH /devices/{id} addresses
	DeviceID        string // deviceId, set by the Device Registration Service
	DisplayName     string
	OperatingSystem string
	OSVersion       string
	TrustType       string // Workplace (registered), AzureAd (joined), ServerAd (hybrid joined)
	AccountEnabled  bool
	// Registered is registrationDateTime; nil when Graph gives none (the property is
	// nullable, and an identity that may not read devices gets only the id and type).
	Registered *time.Time
	LastSignIn *time.Time // approximateLastSignInDateTime
	// Limited: Graph answered the object with no properties but its id (the identity may
	// read the user but not devices: the "limited information" rule of directoryObject
	// collections).
	Limited bool
}

// deviceFields is the $select of the device listings and reads.
var deviceFields = []string{"id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType",
	"accountEnabled", "registrationDateTime", "approximateLastSignInDateTime"}

// UserDevices lists, all pages, the devices the user registered
// (GET /users/{id}/registeredDevices/graph.device) and owns (.../ownedDevices/graph.device),
// each device once, registered ones first.
func (c *Client) UserDevices(ctx context.Context, userID string) ([]Device, error) {
	const op = "UserDevices"
	if err := checkUser(op, userID); err != nil {
		return nil, err
	}
	// The two listings are read at once: block-sign-in reads them beside the account, on
	// the path revoke-sessions waits for.
	user := c.sdk.Users().ByUserId(userID)
	registered, owned := user.RegisteredDevices().GraphDevice(), user.OwnedDevices().GraphDevice()
	var (
		found, more     []models.Deviceable
		errReg, errOwns error
		wg              sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		found, errReg = listAll[models.Deviceable](ctx, c, op,
			func(ctx context.Context) (models.DeviceCollectionResponseable, error) {
				return registered.Get(ctx, &users.ItemRegisteredDevicesGraphDeviceRequestBuilderGetRequestConfiguration{
					QueryParameters: &users.ItemRegisteredDevicesGraphDeviceRequestBuilderGetQueryParameters{Select: deviceFields},
				})
			},
			func(ctx context.Context, link string) (models.DeviceCollectionResponseable, error) {
				return registered.WithUrl(link).Get(ctx, nil)
			})
	}()
	go func() {
		defer wg.Done()
		more, errOwns = listAll[models.Deviceable](ctx, c, op,
			func(ctx context.Context) (models.DeviceCollectionResponseable, error) {
				return owned.Get(ctx, &users.ItemOwnedDevicesGraphDeviceRequestBuilderGetRequestConfiguration{
					QueryParameters: &users.ItemOwnedDevicesGraphDeviceRequestBuilderGetQueryParameters{Select: deviceFields},
				})
			},
			func(ctx context.Context, link string) (models.DeviceCollectionResponseable, error) {
				return owned.WithUrl(link).Get(ctx, nil)
			})
	}()
	wg.Wait()
	if errReg != nil {
		return nil, errReg
	}
	if errOwns != nil {
		return nil, errOwns
	}
	seen := map[string]bool{}
	var out []Device
	for _, d := range append(found, more...) {
		if d == nil {
			continue
		}
		dev := toDevice(d)
		key := strings.ToLower(dev.ID)
		if dev.ID == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, dev)
	}
	return out, nil
}

func toDevice(d models.Deviceable) Device {
	dev := Device{
		ID: deref(d.GetId()), DeviceID: deref(d.GetDeviceId()), DisplayName: deref(d.GetDisplayName()),
		OperatingSystem: deref(d.GetOperatingSystem()), OSVersion: deref(d.GetOperatingSystemVersion()),
		TrustType: deref(d.GetTrustType()), AccountEnabled: derefBool(d.GetAccountEnabled()),
		Registered: utcTime(d.GetRegistrationDateTime()), LastSignIn: utcTime(d.GetApproximateLastSignInDateTime()),
	}
	dev.Limited = d.GetAccountEnabled() == nil && dev.DisplayName == "" && dev.OperatingSystem == "" && dev.DeviceID == ""
	return dev
}

func utcTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// GetDevice reads a device by its object id (GET /devices/{id}).
func (c *Client) GetDevice(ctx context.Context, id string) (Device, error) {
	const op = "GetDevice"
	if err := checkGUIDs(op, "device id", id); err != nil {
		return Device{}, err
	}
	var got models.Deviceable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		got, err = c.sdk.Devices().ByDeviceId(id).Get(ctx, &devices.DeviceItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &devices.DeviceItemRequestBuilderGetQueryParameters{Select: deviceFields},
		})
		return err
	})
	if err != nil {
		return Device{}, err
	}
	if got == nil {
		return Device{}, &Error{Op: op, Message: "empty answer"}
	}
	return toDevice(got), nil
}

// SetDeviceEnabled enables or disables a device (PATCH /devices/{id} with accountEnabled).
// With an application permission Graph changes it on Windows devices only; any other
// answers 400 Request_BadRequest (see docs/simulator-fidelity.md).
func (c *Client) SetDeviceEnabled(ctx context.Context, id string, enabled bool) error {
	const op = "SetDeviceEnabled"
	if err := checkGUIDs(op, "device id", id); err != nil {
		return err
	}
	body := models.NewDevice()
	body.SetAccountEnabled(&enabled)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.Devices().ByDeviceId(id).Patch(ctx, body, nil)
		return err
	})
}
