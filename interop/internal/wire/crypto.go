package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

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

// EncryptPayload is memberlist's encryptPayload with the nonce supplied by the caller
// (memberlist draws it from crypto/rand), so that fixtures are reproducible. Version 0
// pads PKCS#7-style to the block size before sealing; version 1 does not pad.
func EncryptPayload(vsn byte, key, nonce, msg, aad []byte) []byte {
	out := []byte{vsn}
	out = append(out, nonce...)
	src := msg
	if vsn == 0 {
		pad := 16 - len(msg)%16
		src = append(append([]byte{}, msg...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	}
	return append(out, gcm(key).Seal(nil, nonce, src, aad)...)
}

// DecryptPayload is memberlist's decryptPayload over a keyring: it tries every key in
// order and also returns the index of the one that opened the message.
func DecryptPayload(keys [][]byte, msg, aad []byte) ([]byte, int, error) {
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
		if err != nil {
			continue
		}
		if vsn == 0 {
			// Go trusts the last byte (a zero pad keeps everything) and panics on a pad
			// longer than the plaintext; a mirror used as a judge reports that instead.
			if len(plain) == 0 || int(plain[len(plain)-1]) > len(plain) {
				return nil, 0, fmt.Errorf("version 0 padding longer than the plaintext")
			}
			plain = plain[:len(plain)-int(plain[len(plain)-1])]
		}
		return plain, i, nil
	}
	return nil, 0, fmt.Errorf("no installed keys could decrypt the message")
}

// EncryptedStreamFrame is memberlist's encryptLocalState: a 5-byte header (encrypt type,
// big-endian length) whose bytes, followed by the label, are the AAD.
func EncryptedStreamFrame(vsn byte, key, nonce, plain []byte, label string) []byte {
	l := 1 + 12 + len(plain) + 16
	if vsn == 0 {
		l += 16 - len(plain)%16
	}
	header := make([]byte, 5)
	header[0] = EncryptMsg
	binary.BigEndian.PutUint32(header[1:], uint32(l))
	aad := append(append([]byte{}, header...), label...)
	return append(header, EncryptPayload(vsn, key, nonce, plain, aad)...)
}
