package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// appendArgs appends a JSON array of the event name (when not empty) and
// args to dst. Binary values ([]byte anywhere, at any depth) become
// placeholders and their bytes are appended to *atts. Args values from a
// received event expand into their elements, attachments included;
// json.RawMessage values are written as they are.
func appendArgs(dst []byte, event string, args []any, atts *[][]byte) ([]byte, error) {
	dst = append(dst, '[')
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	if event != "" {
		sep()
		dst = appendString(dst, event)
	}
	for _, a := range args {
		if in, ok := a.(Args); ok {
			base := len(*atts)
			*atts = append(*atts, in.attachments...)
			for _, r := range in.raw {
				sep()
				if len(in.attachments) == 0 {
					dst = append(dst, r...)
					continue
				}
				var err error
				dst, err = replacePlaceholders(r, dst, func(d []byte, num int) ([]byte, error) {
					return appendPlaceholder(d, base+num), nil
				})
				if err != nil {
					return nil, err
				}
			}
			continue
		}
		sep()
		var err error
		if dst, err = appendValue(dst, a, atts); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// argsSize estimates the encoded size of an event's arguments, so that
// appendArgs writes into one allocation instead of growing the slice
// several times: exact for strings and received Args, a guess for others.
func argsSize(event string, args []any) int {
	n := len(event) + 4
	for _, a := range args {
		switch x := a.(type) {
		case string:
			n += len(x) + 3
		case Args:
			for _, r := range x.raw {
				n += len(r) + 1
			}
		case json.RawMessage:
			n += len(x) + 1
		default:
			n += 32
		}
	}
	return n
}

func appendPlaceholder(dst []byte, num int) []byte {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(num), 10)
	return append(dst, '}')
}

// appendValue appends v as JSON. Types that cannot hold a []byte are
// marshalled by encoding/json directly (HTML escaping off, as JavaScript's
// JSON.stringify); others are walked to find the binary values.
func appendValue(dst []byte, v any, atts *[][]byte) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, x), nil
	case []byte:
		*atts = append(*atts, x)
		return appendPlaceholder(dst, len(*atts)-1), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, x...), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	}
	rv := reflect.ValueOf(v)
	if !mayHoldBytes(rv.Type()) {
		return appendJSON(dst, v)
	}
	return appendReflect(dst, rv, atts)
}

func appendString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := appendJSON(dst, s)
	return b
}

var encoderPool = sync.Pool{New: func() any {
	b := new(bytes.Buffer)
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	return &jsonEncoder{b, e}
}}

type jsonEncoder struct {
	buf *bytes.Buffer
	enc *json.Encoder
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	e := encoderPool.Get().(*jsonEncoder)
	defer encoderPool.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("socketio: encode argument: %w", err)
	}
	return append(dst, bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})...), nil
}

var (
	bytesType     = reflect.TypeFor[[]byte]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	holdsBytes    sync.Map // reflect.Type -> bool
)

// mayHoldBytes reports whether a value of type t can contain a []byte that
// encoding/json would otherwise turn into base64.
func mayHoldBytes(t reflect.Type) bool {
	if v, ok := holdsBytes.Load(t); ok {
		return v.(bool)
	}
	holdsBytes.Store(t, false) // breaks recursion through recursive types
	r := computeHoldsBytes(t, map[reflect.Type]bool{})
	holdsBytes.Store(t, r)
	return r
}

func computeHoldsBytes(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if t == bytesType || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return true
	}
	if t.Implements(marshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return computeHoldsBytes(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() || f.Anonymous {
				if computeHoldsBytes(f.Type, seen) {
					return true
				}
			}
		}
	}
	return false
}

// appendReflect encodes v as encoding/json would, but with binary
// placeholders for []byte values. It follows encoding/json's rules for
// field names, "-", omitempty and embedded structs.
func appendReflect(dst []byte, v reflect.Value, atts *[][]byte) ([]byte, error) {
	if !v.IsValid() {
		return append(dst, "null"...), nil
	}
	t := v.Type()
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		*atts = append(*atts, v.Bytes())
		return appendPlaceholder(dst, len(*atts)-1), nil
	}
	if !mayHoldBytes(t) {
		return appendJSON(dst, v.Interface())
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendReflect(dst, v.Elem(), atts)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendReflect(dst, v.Index(i), atts); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("socketio: encode argument: map key %s is not a string", t.Key())
		}
		keys := v.MapKeys()
		sortStrings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k.String())
			dst = append(dst, ':')
			var err error
			if dst, err = appendReflect(dst, v.MapIndex(k), atts); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case reflect.Struct:
		dst = append(dst, '{')
		first := true
		var err error
		dst, err = appendFields(dst, v, atts, &first)
		if err != nil {
			return nil, err
		}
		return append(dst, '}'), nil
	}
	return appendJSON(dst, v.Interface())
}

func appendFields(dst []byte, v reflect.Value, atts *[][]byte, first *bool) ([]byte, error) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				var err error
				if dst, err = appendFields(dst, fv, atts, first); err != nil {
					return nil, err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",omitempty,") && isEmpty(fv) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if !*first {
			dst = append(dst, ',')
		}
		*first = false
		dst = appendString(dst, name)
		dst = append(dst, ':')
		var err error
		if dst, err = appendReflect(dst, fv, atts); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func sortStrings(keys []reflect.Value) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].String() < keys[j-1].String(); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}
