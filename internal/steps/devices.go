package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// Devices reads, disables and enables again the Entra ID devices of a user
// (block-sign-in with options.blockSignIn.disableDevices, and its restore).
type Devices interface {
	UserDevices(ctx context.Context, userID string) ([]graph.Device, error)
	GetDevice(ctx context.Context, id string) (graph.Device, error)
	SetDeviceEnabled(ctx context.Context, id string, enabled bool) error
}

// actionDeviceDisabled is the action of a device block-sign-in disabled; restore tells it
// from the account's own change by it (the action is sealed).
const actionDeviceDisabled = "device_disabled"

// RestoreOnlyWhenNamed reports a change that a restore gives back only when the request
// names its step: a device block-sign-in disabled was registered in the look-back window,
// so it is likely the attacker's, like a mailbox delegate or an app consent. A restore
// without steps gives back the victim's own access only (the account's sign-in).
func RestoreOnlyWhenNamed(c runs.Change) bool { return c.Action == actionDeviceDisabled }

// DeviceGrant is what restore needs to enable a device again (Change.Restore): the device's
// object id, enabled before this run disabled it. A device found already disabled is not
// recorded, so restore never enables a device this run did not disable.
type DeviceGrant struct {
	Device         string `json:"device"`
	AccountEnabled bool   `json:"accountEnabled"`
}

// devicePlan is what block-sign-in does with the user's devices.
type devicePlan struct {
	asked   bool  // options.blockSignIn.disableDevices
	readErr error // the listing failed
	disable []graph.Device
	// undated: enabled devices Graph gives no registrationDateTime for (or no properties at
	// all: the identity may not read devices); kept for a person to decide.
	undated []graph.Device
	// notWindows: enabled devices in the window that an application cannot disable (Graph
	// changes accountEnabled of Windows devices only in app-only calls).
	notWindows []graph.Device
	// onPremises: devices Graph refused as mastered in on-premises AD (hybrid joined).
	onPremises []graph.Device
	older      int // enabled devices registered before the window: left alone
	already    int // devices in the window already disabled: nothing to do
	since      time.Time
	days       int
}

// planDevices reads the user's registered and owned devices and sorts them.
func (r *Runner) planDevices(ctx context.Context, in Input) devicePlan {
	p := devicePlan{asked: true}
	p.since, p.days = r.consentWindow(in)
	found, err := r.Directory.UserDevices(ctx, in.Target.ID)
	if err != nil {
		p.readErr = err
		return p
	}
	for _, d := range found {
		switch {
		case d.Limited || d.Registered == nil:
			if d.Limited || d.AccountEnabled {
				p.undated = append(p.undated, d)
			}
		case !d.AccountEnabled:
			if !d.Registered.Before(p.since) {
				p.already++
			}
		case d.Registered.Before(p.since):
			p.older++
		case !isWindows(d):
			p.notWindows = append(p.notWindows, d)
		default:
			p.disable = append(p.disable, d)
		}
	}
	return p
}

// isWindows tells the devices worth asking Graph to disable: it changes accountEnabled of
// Windows devices only for an application. Any spelling that starts with Windows is tried,
// and a refusal (400) is understood, so the check errs on the side of trying.
func isWindows(d graph.Device) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(d.OperatingSystem)), "windows")
}

func deviceLabel(d graph.Device) string {
	name := d.DisplayName
	if name == "" {
		name = "device"
	}
	if os := strings.TrimSpace(d.OperatingSystem + " " + d.OSVersion); os != "" {
		name += " (" + os + ")"
	}
	return name + " [" + d.ID + "]"
}

func deviceLabels(ds []graph.Device) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = deviceLabel(d)
	}
	return strings.Join(out, ", ")
}

func (p devicePlan) window() string {
	return fmt.Sprintf("since %s (the last %d days: options.investigate.days)", p.since.Format(time.RFC3339), p.days)
}

// changes are the planned change of each device to disable.
func (p devicePlan) changes() []runs.Change {
	return changesOf(p.disable, func(d graph.Device) runs.Change {
		before := map[string]any{"accountEnabled": true, "id": d.ID, "deviceId": d.DeviceID, "displayName": d.DisplayName,
			"operatingSystem": d.OperatingSystem, "operatingSystemVersion": d.OSVersion, "trustType": d.TrustType,
			"registrationDateTime": d.Registered.Format(time.RFC3339)}
		if d.LastSignIn != nil {
			before["approximateLastSignInDateTime"] = d.LastSignIn.Format(time.RFC3339)
		}
		return runs.Change{
			Action: actionDeviceDisabled, Target: deviceLabel(d),
			Before: before, After: map[string]any{"accountEnabled": false},
			Reasons: []string{"registered or joined at " + d.Registered.Format(time.RFC3339) + ", in the look-back window " + p.window() +
				": a device the attacker registered keeps getting tokens for the account through its own sign-in, so it is disabled (options.blockSignIn.disableDevices) until the account is secured; a restore that names block-sign-in enables it again"},
			Restore: DeviceGrant{Device: d.ID, AccountEnabled: true},
		}
	})
}

// notes say what was left and why; action reports whether a person must act.
func (p devicePlan) notes() (notes []string, action bool) {
	if len(p.undated) > 0 {
		action = true
		why := "Graph gives no registration time for them (registrationDateTime is null)"
		for _, d := range p.undated {
			if d.Limited {
				why = "Graph gave no registration time for them (no registrationDateTime; a device answered with its id alone means the identity may read the user but not devices: grant Device.ReadWrite.All)"
				break
			}
		}
		notes = append(notes, "Devices left enabled for a person to decide: "+deviceLabels(p.undated)+": "+why+
			", so it cannot be told whether the attacker registered them. Check them with the user and disable them in the Entra admin center (Devices, All devices) if they are not the user's.")
	}
	if len(p.notWindows) > 0 {
		action = true
		notes = append(notes, "Devices registered "+p.window()+" that Microsoft Graph does not let an application disable (it changes accountEnabled of Windows devices only): "+
			deviceLabels(p.notWindows)+". Disable them in the Entra admin center (Devices, All devices, Disable) or with Intune.")
	}
	if len(p.onPremises) > 0 {
		action = true
		notes = append(notes, "Devices mastered in on-premises Active Directory (hybrid joined), which Graph does not change from the cloud: "+
			deviceLabels(p.onPremises)+". Disable their computer accounts in on-premises AD and let them sync.")
	}
	if p.older > 0 {
		notes = append(notes, fmt.Sprintf("%d device(s) registered before the look-back window were left enabled (the user's own, as far as the dates tell).", p.older))
	}
	if p.already > 0 {
		notes = append(notes, fmt.Sprintf("%d device(s) registered in the window were found already disabled: a device is recorded (and restore enables it) only when this run disabled it.", p.already))
	}
	return notes, action
}

// readFailure is the outcome part of a listing that failed for good (a refusal): the
// account's block stands, the devices are left to a person.
func (p devicePlan) readFailure() *runs.Error {
	return explainDevices("read the user's registered and owned devices", p.readErr)
}

func explainDevices(what string, err error) *runs.Error {
	e := explain("block-sign-in: "+what, err)
	if graph.IsForbidden(err) {
		e.Message += ". options.blockSignIn.disableDevices needs Device.ReadWrite.All (an application permission of Microsoft Graph): grant it to the managed identity, or disable the user's devices in the Entra admin center (Devices, All devices)"
	}
	return e
}

// withDevices completes block-sign-in's outcome for the account (base) with the devices:
// it records the planned device changes when the account's part recorded nothing
// (recorded false), disables them, and merges what happened. A dry run plans only.
func (r *Runner) withDevices(ctx context.Context, in Input, p devicePlan, base Outcome, recorded bool) Outcome {
	if !p.asked {
		return base
	}
	if p.readErr != nil {
		base.Error = p.readFailure()
		if base.Status == runs.StepSucceeded || base.Status == runs.StepNoChange {
			base.Status = runs.StepActionRequired
		}
		base.Message = joinNotes(sentence(base.Message), "The user's devices were not disabled: "+base.Error.Message+".")
		return base
	}
	notes, action := p.notes()
	planned := p.changes()
	mark := func(o Outcome) Outcome {
		if action && o.Status != runs.StepFailed && o.Status != runs.StepPlanned {
			o.Status = runs.StepActionRequired
		}
		if len(planned) == 0 && len(notes) == 0 {
			notes = append(notes, "No device registered "+p.window()+" is enabled: no device was disabled.")
		}
		o.Message = joinNotes(sentence(o.Message), notes...)
		return o
	}
	if in.DryRun {
		base.Changes = append(base.Changes, planned...)
		if len(base.Changes) > 0 {
			base.Status = runs.StepPlanned
		}
		return mark(base)
	}
	if len(planned) == 0 {
		return mark(base)
	}
	if !recorded {
		if stop := recordBeforeActing(ctx, "block-sign-in", in, planned); stop != nil {
			stop.Changes = append(base.Changes, stop.Changes...)
			return *stop
		}
	}
	errs := callEach(len(p.disable), func(i int) error { return r.Directory.SetDeviceEnabled(ctx, p.disable[i].ID, false) })
	out := base
	var refused, onPremises []graph.Device
	var gone []string
	var firstErr error
	for i, err := range errs {
		var ge *graph.Error
		switch {
		case err == nil:
			out.Changes = append(out.Changes, planned[i])
		case graph.IsNotFound(err):
			gone = append(gone, deviceLabel(p.disable[i]))
		case errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "windows devices"):
			refused = append(refused, p.disable[i])
		case errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "on-premises"):
			onPremises = append(onPremises, p.disable[i])
		case firstErr == nil:
			firstErr = err
		}
	}
	if len(refused)+len(onPremises) > 0 {
		p.notWindows = append(p.notWindows, refused...)
		p.onPremises = onPremises
		notes, action = p.notes()
	}
	if len(gone) > 0 {
		notes = append(notes, "Devices deleted meanwhile (nothing to disable): "+strings.Join(gone, ", ")+".")
	}
	if firstErr != nil {
		if isTransient(firstErr) {
			f := fail("block-sign-in: disable the user's devices", firstErr, out.Changes)
			f.Message = joinNotes(base.Message, notes...)
			return f
		}
		out.Error = explainDevices("disable the user's devices", firstErr)
		action = true
		notes = append(notes, "Not every device was disabled: "+out.Error.Message+".")
	}
	if out.Status == runs.StepNoChange && len(out.Changes) > 0 {
		out.Status = runs.StepSucceeded
	}
	return mark(out)
}

// sentence ends a message that other sentences follow with a full stop.
func sentence(msg string) string {
	if msg == "" || strings.HasSuffix(msg, ".") {
		return msg
	}
	return msg + "."
}

// restoreDevice enables again a device this run disabled, once: a device already enabled is
// already_present.
func (r *Runner) restoreDevice(ctx context.Context, c runs.Change) ([]runs.Change, error) {
	var grant DeviceGrant
	raw, _ := json.Marshal(c.Restore)
	if err := json.Unmarshal(raw, &grant); err != nil || !grant.AccountEnabled || !graph.ValidID(grant.Device) {
		return nil, errors.New("the recorded change does not name a device that was enabled before")
	}
	return enableAgain(c, "this run disabled the device ("+c.Action+"); it is enabled again",
		func() (bool, error) {
			current, err := r.Directory.GetDevice(ctx, grant.Device)
			return current.AccountEnabled, err
		},
		func() error { return r.Directory.SetDeviceEnabled(ctx, grant.Device, true) })
}
