package main

import (
	"encoding/base64"
	"strconv"
)

func itoa(n int) string    { return strconv.Itoa(n) }
func u64s(n uint64) string { return strconv.FormatUint(n, 10) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
