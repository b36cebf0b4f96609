package main

// Mirrors of memberlist v0.7.0's unexported wire structs (net.go): same field names,
// Go types, declaration order and codec tags, so that go-msgpack encodes them exactly
// as memberlist's own encode() does.

import (
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

const (
	pingMsg         = 0
	indirectPingMsg = 1
	ackRespMsg      = 2
	suspectMsg      = 3
	aliveMsg        = 4
	deadMsg         = 5
	pushPullMsg     = 6
	compoundMsg     = 7
	userMsg         = 8
	compressMsg     = 9
	encryptMsg      = 10
	nackRespMsg     = 11
	hasCrcMsg       = 12
	errMsg          = 13
	hasLabelMsg     = 244
)

var typeNames = map[byte]string{
	pingMsg: "ping", indirectPingMsg: "indirect_ping", ackRespMsg: "ack_resp",
	suspectMsg: "suspect", aliveMsg: "alive", deadMsg: "dead", pushPullMsg: "push_pull",
	compoundMsg: "compound", userMsg: "user", compressMsg: "compress", encryptMsg: "encrypt",
	nackRespMsg: "nack_resp", hasCrcMsg: "has_crc", errMsg: "err", hasLabelMsg: "has_label",
}

type ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type indirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type ackResp struct {
	SeqNo   uint32
	Payload []byte
}

type nackResp struct {
	SeqNo uint32
}

type errResp struct {
	Error string
}

type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type dead struct {
	Incarnation uint32
	Node        string
	From        string
}

type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type userMsgHeader struct {
	UserMsgLen int
}

type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

type compress struct {
	Algo uint8
	Buf  []byte
}

// msgpackBody encodes one value with a default handle, as memberlist does.
func msgpackBody(v any) []byte {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// encodeMsg is memberlist's encode(): type byte + msgpack body.
func encodeMsg(t byte, v any) []byte {
	return append([]byte{t}, msgpackBody(v)...)
}

func decodeBody(body []byte, v any) error {
	return codec.NewDecoder(bytes.NewReader(body), &codec.MsgpackHandle{}).Decode(v)
}

// makeCompound is memberlist's makeCompoundMessage.
func makeCompound(msgs [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(compoundMsg)
	buf.WriteByte(uint8(len(msgs)))
	for _, m := range msgs {
		binary.Write(&buf, binary.BigEndian, uint16(len(m)))
	}
	for _, m := range msgs {
		buf.Write(m)
	}
	return buf.Bytes()
}

func lzwCompress(in []byte) []byte {
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

func lzwDecompress(in []byte) ([]byte, error) {
	r := lzw.NewReader(bytes.NewReader(in), lzw.LSB, 8)
	defer r.Close()
	var b bytes.Buffer
	n, err := io.CopyN(&b, r, 40*1024*1024+1)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n > 40*1024*1024 {
		return nil, fmt.Errorf("decompressed message is larger than limit")
	}
	return b.Bytes(), nil
}

// compressMsgBytes is memberlist's compressPayload.
func compressMsgBytes(in []byte) []byte {
	return encodeMsg(compressMsg, &compress{Algo: 0, Buf: lzwCompress(in)})
}

func crcWrap(in []byte) []byte {
	out := make([]byte, 5, 5+len(in))
	out[0] = hasCrcMsg
	binary.BigEndian.PutUint32(out[1:], crc32.ChecksumIEEE(in))
	return append(out, in...)
}

func labelHeader(label string) []byte {
	if label == "" {
		return nil
	}
	return append([]byte{hasLabelMsg, byte(len(label))}, label...)
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// encryptPayload is memberlist's encryptPayload with the nonce given.
func encryptPayload(vsn byte, key, nonce, msg, aad []byte) []byte {
	out := []byte{vsn}
	out = append(out, nonce...)
	src := msg
	if vsn == 0 {
		pad := 16 - len(msg)%16
		src = append(append([]byte{}, msg...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	}
	return append(out, gcm(key).Seal(nil, nonce, src, aad)...)
}

// decryptPayload tries every key; returns the plaintext and the key index.
func decryptPayload(keys [][]byte, msg, aad []byte) ([]byte, int, error) {
	if len(msg) == 0 {
		return nil, 0, fmt.Errorf("cannot decrypt empty payload")
	}
	vsn := msg[0]
	if vsn > 1 {
		return nil, 0, fmt.Errorf("unsupported encryption version %d", vsn)
	}
	min := 29
	if vsn == 0 {
		min = 45
	}
	if len(msg) < min {
		return nil, 0, fmt.Errorf("payload is too small to decrypt")
	}
	for i, k := range keys {
		plain, err := gcm(k).Open(nil, msg[1:13], msg[13:], aad)
		if err == nil {
			if vsn == 0 {
				plain = plain[:len(plain)-int(plain[len(plain)-1])]
			}
			return plain, i, nil
		}
	}
	return nil, 0, fmt.Errorf("no installed keys could decrypt the message")
}

// encryptedStreamFrame is memberlist's encryptLocalState.
func encryptedStreamFrame(vsn byte, key, nonce, plain []byte, label string) []byte {
	l := 1 + 12 + len(plain) + 16
	if vsn == 0 {
		l += 16 - len(plain)%16
	}
	header := make([]byte, 5)
	header[0] = encryptMsg
	binary.BigEndian.PutUint32(header[1:], uint32(l))
	aad := append(append([]byte{}, header...), label...)
	return append(header, encryptPayload(vsn, key, nonce, plain, aad)...)
}
