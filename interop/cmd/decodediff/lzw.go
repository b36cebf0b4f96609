package main

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"math/rand"

	"github.com/memberlist-interop/interop/internal/wire"
)

// lzwCases are LZW streams as memberlist's compress.Buf carries them: Go's own output
// for assorted inputs (some long enough to fill the code table and start over), then
// often cut, damaged, extended, or replaced by noise.
func lzwCases(rng *rand.Rand, n int) []record {
	var out []record
	for i := 0; i < n; i++ {
		var plain []byte
		switch k := rng.Intn(30); {
		case k == 0:
			plain = nil
		case k < 12:
			plain = make([]byte, rng.Intn(64))
			for j := range plain {
				plain[j] = byte('a' + rng.Intn(4))
			}
		case k < 21:
			plain = make([]byte, rng.Intn(300))
			rng.Read(plain)
		case k < 29:
			plain = bytes.Repeat([]byte{byte(rng.Intn(256))}, rng.Intn(5000))
		default:
			// Enough distinct pairs to pass code 4095 and reset the table.
			plain = make([]byte, 2500+rng.Intn(1500))
			rng.Read(plain)
		}
		b := wire.LZWCompress(plain)
		switch k := rng.Intn(10); {
		case k < 3:
		case k < 5:
			b = b[:rng.Intn(len(b)+1)]
		case k < 7 && len(b) > 0:
			b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
		case k < 8:
			b = append(b, byte(rng.Intn(256)), byte(rng.Intn(256)))
		default:
			b = make([]byte, rng.Intn(40))
			rng.Read(b)
		}
		rec := record{Struct: "lzw", Hex: hex.EncodeToString(b)}
		if got, err := wire.LZWDecompress(b); err != nil {
			rec.Error = err.Error()
		} else {
			rec.OK = true
			// Length and CRC-32 stand for the output, to keep the corpus small.
			rec.Fields = map[string]any{"len": len(got), "crc32": crc32.ChecksumIEEE(got)}
		}
		out = append(out, rec)
	}
	return out
}
