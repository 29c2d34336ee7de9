package exchange

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestRuleIDNeverGoesThroughFloat(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    string
		wantErr bool
	}{
		{name: "max uint64 as number", json: `18446744073709551615`, want: "18446744073709551615"},
		{name: "2^53+1 as number", json: `9007199254740993`, want: "9007199254740993"},
		{name: "as string", json: `"18446744073709551615"`, want: "18446744073709551615"},
		{name: "null", json: `null`, want: ""},
		{name: "zero", json: `0`, want: "0"},
		{name: "float literal lost digits", json: `1.8446744073709552e19`, wantErr: true},
		{name: "negative", json: `-1`, wantErr: true},
		{name: "beyond uint64", json: `18446744073709551616`, wantErr: true},
		{name: "object", json: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct{ RuleIdentity ruleID }
			err := json.Unmarshal([]byte(`{"RuleIdentity":`+tt.json+`}`), &v)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && string(v.RuleIdentity) != tt.want {
				t.Errorf("RuleIdentity = %q, want %q", v.RuleIdentity, tt.want)
			}
		})
	}
}

func TestLooseJSONTypes(t *testing.T) {
	var v struct {
		A, B, C, D     textList
		S1, S2, S3     text
		F1, F2, F3, F4 flag
		I1, I2, I3     integer
	}
	in := `{"A":null,"B":"one","C":["x",null,"y"],"D":[],"S1":null,"S2":"s","S3":42,
		"F1":true,"F2":null,"F3":"True","F4":"false","I1":7,"I2":"8","I3":null}`
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if v.A != nil || !reflect.DeepEqual(v.B, textList{"one"}) || !reflect.DeepEqual(v.C, textList{"x", "y"}) || v.D != nil {
		t.Errorf("lists = %#v %#v %#v %#v", v.A, v.B, v.C, v.D)
	}
	if v.S1 != "" || v.S2 != "s" || v.S3 != "42" {
		t.Errorf("texts = %q %q %q", v.S1, v.S2, v.S3)
	}
	if !v.F1 || v.F2 || !v.F3 || v.F4 {
		t.Errorf("flags = %v %v %v %v", v.F1, v.F2, v.F3, v.F4)
	}
	if v.I1 != 7 || v.I2 != 8 || v.I3 != 0 {
		t.Errorf("integers = %d %d %d", v.I1, v.I2, v.I3)
	}
	for _, bad := range []string{`{"S1":{}}`, `{"F1":"maybe"}`, `{"I1":"seven"}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestParseExchangeTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2025-03-04T05:06:07Z", want: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{in: "2025-03-04T05:06:07.1234567Z", want: time.Date(2025, 3, 4, 5, 6, 7, 123456700, time.UTC)},
		{in: "2025-03-04T06:06:07+01:00", want: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{in: "2025-03-04T05:06:07.5", want: time.Date(2025, 3, 4, 5, 6, 7, 500000000, time.UTC)},
		{in: "/Date(1741064767000)/", want: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{in: "/Date(1741064767000+0100)/", want: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{in: "", wantErr: true},
		{in: "04/03/2025 05:06", wantErr: true},
		{in: "/Date(abc)/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExchangeTime(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && (!got.Equal(tt.want) || got.Location() != time.UTC) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTextListReadsEveryShapeAnAddressCanArriveIn(t *testing.T) {
	tests := []struct {
		json string
		want textList
	}{
		{json: `null`, want: nil},
		{json: `"\"Eve\" [SMTP:eve@evil.example]"`, want: textList{`"Eve" [SMTP:eve@evil.example]`}},
		{json: `["a", null, 7, true]`, want: textList{"a", "7", "true"}},
		{json: `{"Name":"Eve","Address":"eve@evil.example"}`, want: textList{"eve@evil.example", "Eve"}},
		{json: `[{"DisplayName":"Eve","SmtpAddress":"eve@evil.example"},["x"]]`, want: textList{"Eve", "eve@evil.example", "x"}},
		{json: `[]`, want: nil},
	}
	for _, tt := range tests {
		var l textList
		if err := json.Unmarshal([]byte(tt.json), &l); err != nil || !reflect.DeepEqual(l, tt.want) {
			t.Errorf("textList(%s) = %#v, %v; want %#v", tt.json, l, err, tt.want)
		}
	}
}

func TestDecodeItemIsolatesAnOddProperty(t *testing.T) {
	var w struct {
		Name     text
		Priority integer
		Enabled  flag
		ObjectID text `json:"ExternalDirectoryObjectId"`
	}
	raw, unreadable, err := decodeItem(json.RawMessage(`{"name":"kept","Priority":{"x":1},"Enabled":1,"ExternalDirectoryObjectId":"id-1","Extra":[1]}`), &w)
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "kept" || w.Priority != 0 || !bool(w.Enabled) || w.ObjectID != "id-1" || !reflect.DeepEqual(unreadable, []string{"Priority"}) {
		t.Errorf("decoded %+v, unreadable %v", w, unreadable)
	}
	if raw["Priority"] == nil || raw["Extra"] == nil {
		t.Errorf("raw lost the odd properties: %v", raw)
	}
	if _, _, err := decodeItem(json.RawMessage(`[1,2]`), &w); err == nil {
		t.Error("an item that is not an object was accepted")
	}
}
