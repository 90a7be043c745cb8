package engine

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// TestResetCtxWhole checks that resetCtx, which resets the context
// field by field, leaves every field of ext.Ctx as assigning the whole
// literal would: a field added to ext.Ctx and not to resetCtx fails it.
func TestResetCtxWhole(t *testing.T) {
	e, err := New(rules.New(), nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Log = &bytes.Buffer{}
	s := NewState()
	// Every field set to something that is not its reset value.
	v := reflect.ValueOf(&s.ctx).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			f.SetUint(7)
		case reflect.String:
			f.SetString("x")
		case reflect.Array:
			f.Index(0).SetUint(7)
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Interface, reflect.Func:
			// Set below where the type allows.
		default:
			t.Fatalf("field %s: kind %v not handled by the test", v.Type().Field(i).Name, f.Kind())
		}
	}
	s.ctx.Conn, s.ctx.Conns, s.ctx.Host, s.ctx.Log = fakeConn{}, nil, nil, nil
	emit := s.ctx.Emit
	e.resetCtx(s, 1234, 0x42)
	want := ext.Ctx{Pkt: &s.pkt, Now: 1234, Mark: 0x42, Host: e.Host, Log: e.Log, Emit: emit, UID: -1, GID: -1, Conns: e.CT}
	got := s.ctx
	// Funcs do not compare: Emit is checked to be kept, then left out.
	if reflect.ValueOf(got.Emit).Pointer() != reflect.ValueOf(want.Emit).Pointer() {
		t.Error("Emit changed")
	}
	got.Emit, want.Emit = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resetCtx left\n%+v\nwant\n%+v", got, want)
	}
}

type fakeConn struct{ ext.Conn }
