package wire

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Go's limits on inbound data (memberlist v0.7.0), enforced by the Go-side readers
// too so that Rust's bytes are judged by the same rules.
const (
	MaxDecompressed = 40 * 1024 * 1024
	MaxPushNodes    = 1024 * 1024
	MaxUserState    = 20 * 1024 * 1024
	MaxUserMsg      = 20 * 1024 * 1024
)

// MakeCompound is memberlist's makeCompoundMessage: count, big-endian lengths, bodies.
func MakeCompound(msgs [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(CompoundMsg)
	buf.WriteByte(uint8(len(msgs)))
	for _, m := range msgs {
		binary.Write(&buf, binary.BigEndian, uint16(len(m)))
	}
	for _, m := range msgs {
		buf.Write(m)
	}
	return buf.Bytes()
}

// LZWCompress is compress/lzw with memberlist's settings (LSB order, literal width 8).
func LZWCompress(in []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 8)
	if _, err := w.Write(in); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// LZWDecompress reverses LZWCompress, refusing output beyond Go's 40 MiB limit.
func LZWDecompress(in []byte) ([]byte, error) {
	r := lzw.NewReader(bytes.NewReader(in), lzw.LSB, 8)
	defer r.Close()
	var b bytes.Buffer
	n, err := io.CopyN(&b, r, MaxDecompressed+1)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n > MaxDecompressed {
		return nil, fmt.Errorf("decompressed message is larger than limit")
	}
	return b.Bytes(), nil
}

// CompressPayload is memberlist's compressPayload: a compress message holding LZW.
func CompressPayload(in []byte) []byte {
	return Encode(CompressMsg, &Compress{Algo: 0, Buf: LZWCompress(in)})
}

// CRCWrap prefixes the hasCrc header (IEEE CRC-32 of the rest, big-endian).
func CRCWrap(in []byte) []byte {
	out := make([]byte, 5, 5+len(in))
	out[0] = HasCrcMsg
	binary.BigEndian.PutUint32(out[1:], crc32.ChecksumIEEE(in))
	return append(out, in...)
}

// LabelHeader is the hasLabel prefix; memberlist writes none for an empty label.
func LabelHeader(label string) []byte {
	if label == "" {
		return nil
	}
	return append([]byte{HasLabelMsg, byte(len(label))}, label...)
}
