package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
)

// gen writes one random msgpack body, structure-aware: mostly the struct it is meant
// for, in every encoding go-msgpack might meet, with unknown keys, odd keys, nils,
// wrong types, deep nesting, and then sometimes cut short or damaged.
type gen struct {
	r *rand.Rand
	b []byte
}

func newGen(r *rand.Rand) *gen { return &gen{r: r} }

func (g *gen) pct(p int) bool { return g.r.Intn(100) < p }

func (g *gen) u8(v byte) { g.b = append(g.b, v) }

func (g *gen) be(v uint64, n int) {
	var x [8]byte
	binary.BigEndian.PutUint64(x[:], v)
	g.b = append(g.b, x[8-n:]...)
}

func (g *gen) body(t target) []byte {
	switch n := g.r.Intn(100); {
	case n < 80:
		g.mapStruct(t)
	case n < 92:
		g.arrayStruct(t)
	case n < 95:
		g.u8(0xc0)
	default:
		g.any(0)
	}
	switch n := g.r.Intn(100); {
	case n < 8:
		g.b = g.b[:g.r.Intn(len(g.b)+1)]
	case n < 12 && len(g.b) > 0:
		g.b[g.r.Intn(len(g.b))] ^= byte(1 + g.r.Intn(255))
	case n < 15:
		g.b = append(g.b, byte(g.r.Intn(256)), byte(g.r.Intn(256)))
	}
	return g.b
}

// containerHeader writes a map or array header of n entries, sometimes in a wider
// form than needed (Go accepts any).
func (g *gen) containerHeader(isMap bool, n int) {
	fix, h16, h32 := byte(0x90), byte(0xdc), byte(0xdd)
	if isMap {
		fix, h16, h32 = 0x80, 0xde, 0xdf
	}
	switch {
	case n < 16 && g.pct(85):
		g.u8(fix | byte(n))
	case n < 65536 && g.pct(70):
		g.u8(h16)
		g.be(uint64(n), 2)
	default:
		g.u8(h32)
		g.be(uint64(n), 4)
	}
}

func (g *gen) mapStruct(t target) {
	n := g.r.Intn(len(t.fields) + 3)
	g.containerHeader(true, n)
	for i := 0; i < n; i++ {
		switch k := g.r.Intn(100); {
		case k < 75:
			f := t.fields[g.r.Intn(len(t.fields))]
			g.key(f.name)
			g.value(f.kind)
		case k < 90:
			names := []string{"Unknown", "seqNo", "SeqNo ", "node", "X", "", "Nodes2"}
			g.key(names[g.r.Intn(len(names))])
			g.unknownValue()
		default:
			g.oddKey()
			g.unknownValue()
		}
	}
}

func (g *gen) arrayStruct(t target) {
	n := g.r.Intn(len(t.fields) + 3)
	g.containerHeader(false, n)
	for i := 0; i < n; i++ {
		if i < len(t.fields) {
			g.value(t.fields[i].kind)
		} else {
			g.unknownValue()
		}
	}
}

// key writes a field name, usually as Go writes it (fixstr), sometimes in any other
// form go-msgpack reads as a string.
func (g *gen) key(name string) {
	if g.pct(75) {
		g.str(0, []byte(name))
		return
	}
	g.raw([]byte(name), false)
}

func (g *gen) oddKey() {
	switch g.r.Intn(5) {
	case 0:
		g.u8(0xc0)
	case 1:
		g.integer()
	case 2:
		g.u8(0x80)
	case 3:
		g.u8(0xc3)
	default:
		g.any(1)
	}
}

func (g *gen) unknownValue() {
	if g.pct(1) {
		// Around go-msgpack's depth limit (1024, counted from the struct).
		depth := 1018 + g.r.Intn(10)
		for i := 0; i < depth; i++ {
			g.u8(0x91)
		}
		g.u8(0x00)
		return
	}
	g.any(0)
}

// value writes something for a field of the given kind: usually a fitting value in a
// random encoding, sometimes nil, sometimes anything at all.
func (g *gen) value(k kind) {
	switch n := g.r.Intn(100); {
	case n < 6:
		g.u8(0xc0)
		return
	case n < 12:
		g.any(1)
		return
	}
	switch k {
	case kUint8, kUint16, kUint32, kInt:
		g.integer()
	case kBool:
		bools := []byte{0xc2, 0xc3, 0x00, 0x01, 0x02, 0xff, 0xc0}
		g.u8(bools[g.r.Intn(len(bools))])
	case kString, kBytes:
		g.raw(g.content(), k == kBytes)
	}
}

// content is a byte string: short text, binary, or now and then long.
func (g *gen) content() []byte {
	n := g.r.Intn(40)
	if g.pct(2) {
		n = 200 + g.r.Intn(200)
	}
	b := make([]byte, n)
	for i := range b {
		if g.pct(80) {
			b[i] = byte('a' + g.r.Intn(26))
		} else {
			b[i] = byte(g.r.Intn(256))
		}
	}
	return b
}

// str writes a string/bin header of the given form (0 = narrowest Go form) and data.
func (g *gen) str(form int, data []byte) {
	n := len(data)
	switch {
	case form == 0 && n < 32:
		g.u8(0xa0 | byte(n))
	case form == 0 || form == 2:
		if n > 65535 {
			g.u8(0xdb)
			g.be(uint64(n), 4)
		} else {
			g.u8(0xda)
			g.be(uint64(n), 2)
		}
	case form == 1 && n < 256:
		g.u8(0xd9)
		g.u8(byte(n))
	case form == 3:
		g.u8(0xdb)
		g.be(uint64(n), 4)
	case form == 4 && n < 256:
		g.u8(0xc4)
		g.u8(byte(n))
	case form == 5:
		g.u8(0xc5)
		g.be(uint64(n), 2)
	default:
		g.u8(0xc6)
		g.be(uint64(n), 4)
	}
	g.b = append(g.b, data...)
}

// raw writes data in any form go-msgpack might read as a string or byte slice:
// every str and bin header, an array of small integers, or (for []byte fields, which
// go-msgpack fills like any slice) a map of them.
func (g *gen) raw(data []byte, mapAllowed bool) {
	switch n := g.r.Intn(100); {
	case n < 70:
		g.str(g.r.Intn(7), data)
	case n < 88 || !mapAllowed:
		g.containerHeader(false, len(data))
		for _, c := range data {
			g.byteElem(c)
		}
	default:
		if len(data)%2 == 1 {
			data = data[1:]
		}
		g.containerHeader(true, len(data)/2)
		for _, c := range data {
			g.byteElem(c)
		}
	}
}

// byteElem writes one element of an integer-array byte string.
func (g *gen) byteElem(c byte) {
	switch n := g.r.Intn(100); {
	case n < 2:
		g.u8(0xc0)
	case n < 4:
		g.integer()
	case n < 60 && c < 128:
		g.u8(c)
	case n < 80:
		g.u8(0xcc)
		g.u8(c)
	case n < 90:
		g.u8(0xd1)
		g.be(uint64(c), 2)
	default:
		g.u8(0xcd)
		g.be(uint64(c), 2)
	}
}

// integer writes a random integer, choosing the marker first and then a value it can
// hold, biased towards the edges of Go's integer types.
func (g *gen) integer() {
	edges := []uint64{0, 1, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
		math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32, math.MaxUint32 + 1,
		1048576, 1048577, 20971520, 20971521, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	pick := func(max uint64) uint64 {
		if g.pct(60) {
			var fit []uint64
			for _, e := range edges {
				if e <= max {
					fit = append(fit, e)
				}
			}
			return fit[g.r.Intn(len(fit))]
		}
		if max == math.MaxUint64 {
			return g.r.Uint64()
		}
		return uint64(g.r.Int63n(int64(max) + 1))
	}
	signed := func(bits int) int64 {
		lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
		switch g.r.Intn(4) {
		case 0:
			return lo
		case 1:
			return hi
		default:
			return int64(g.r.Uint64()) >> (64 - bits)
		}
	}
	switch g.r.Intn(11) {
	case 0:
		g.u8(byte(g.r.Intn(128)))
	case 1:
		g.u8(0xe0 | byte(g.r.Intn(32)))
	case 2:
		g.u8(0xcc)
		g.be(pick(math.MaxUint8), 1)
	case 3:
		g.u8(0xcd)
		g.be(pick(math.MaxUint16), 2)
	case 4:
		g.u8(0xce)
		g.be(pick(math.MaxUint32), 4)
	case 5:
		g.u8(0xcf)
		g.be(pick(math.MaxUint64), 8)
	case 6:
		g.u8(0xd0)
		g.be(uint64(signed(8)), 1)
	case 7:
		g.u8(0xd1)
		g.be(uint64(signed(16)), 2)
	case 8:
		g.u8(0xd2)
		g.be(uint64(signed(32)), 4)
	case 9:
		g.u8(0xd3)
		g.be(uint64(signed(64)), 8)
	default:
		if g.pct(50) {
			g.u8(0xca)
			g.be(uint64(math.Float32bits(1.5)), 4)
		} else {
			g.u8(0xcb)
			g.be(math.Float64bits(2), 8)
		}
	}
}

// any writes an arbitrary msgpack value, nested at most a few levels.
func (g *gen) any(depth int) {
	top := 9
	if depth > 3 {
		top = 6
	}
	switch g.r.Intn(top) {
	case 0:
		g.u8([]byte{0xc0, 0xc2, 0xc3, 0xc1}[g.r.Intn(4)])
	case 1, 2:
		g.integer()
	case 3, 4:
		g.str(g.r.Intn(7), g.content())
	case 5:
		g.ext()
	case 6:
		n := g.r.Intn(4)
		g.containerHeader(false, n)
		for i := 0; i < n; i++ {
			g.any(depth + 1)
		}
	default:
		n := g.r.Intn(3)
		g.containerHeader(true, n)
		for i := 0; i < 2*n; i++ {
			g.any(depth + 1)
		}
	}
}

// ext writes an extension value; type -1 is msgpack's timestamp, which go-msgpack
// decodes (and checks) even when it only skips the value.
func (g *gen) ext() {
	typ := byte(g.r.Intn(256))
	if g.pct(50) {
		typ = 0xff
	}
	sizes := []int{1, 2, 4, 8, 16}
	switch n := g.r.Intn(8); {
	case n < 5:
		g.u8(0xd4 + byte(n))
		g.u8(typ)
		for i := 0; i < sizes[n]; i++ {
			g.u8(byte(g.r.Intn(256)))
		}
	default:
		size := []int{0, 3, 4, 8, 12, 13}[g.r.Intn(6)]
		switch n {
		case 5:
			g.u8(0xc7)
			g.u8(byte(size))
		case 6:
			g.u8(0xc8)
			g.be(uint64(size), 2)
		default:
			g.u8(0xc9)
			g.be(uint64(size), 4)
		}
		g.u8(typ)
		for i := 0; i < size; i++ {
			g.u8(byte(g.r.Intn(256)))
		}
	}
}

// edgeCases are fixed bodies at the edges found by reading go-msgpack: the nesting
// limit for skipped values (in map and array form, through arrays and maps), empty and
// nil keys, keys spelled as arrays, timestamp extensions of every small size, and a
// nil in place of each struct.
func edgeCases() []struct {
	t    target
	body []byte
} {
	var out []struct {
		t    target
		body []byte
	}
	add := func(t target, parts ...[]byte) {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		out = append(out, struct {
			t    target
			body []byte
		}{t, b})
	}
	rep := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	ping := targets[0]
	for n := 1019; n <= 1025; n++ {
		add(ping, []byte{0x81, 0xa1, 'X'}, rep([]byte{0x91}, n), []byte{0})
		add(ping, []byte{0x96, 0x05, 0xa0, 0xa0, 0x00, 0xa0}, rep([]byte{0x91}, n), []byte{0})
		add(ping, []byte{0x81, 0xa1, 'X'}, rep([]byte{0x81, 0x00}, n), []byte{0})
	}
	for _, key := range [][]byte{{0xa0}, {0xc0}, {0x90}, {0x92, 'N', 0xcc, 'X'}, {0x95, 'S', 'e', 'q', 'N', 'o'}, {0xc4, 5, 'S', 'e', 'q', 'N', 'o'}} {
		add(ping, []byte{0x81}, key, []byte{0x07})
	}
	for size := 0; size <= 16; size++ {
		add(ping, []byte{0x81, 0xa1, 'X', 0xc7, byte(size), 0xff}, rep([]byte{0}, size))
	}
	for _, t := range targets {
		add(t, []byte{0xc0})
	}
	return out
}
