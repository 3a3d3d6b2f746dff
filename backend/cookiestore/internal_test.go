package cookiestore

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestKeyPairFromSecretIsStable pins the derivation: a change to it would
// end every session sealed with keys derived by an earlier release.
func TestKeyPairFromSecretIsStable(t *testing.T) {
	k, err := KeyPairFromSecret([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		wantHash = "13d5dcabdafc2af8cb9ace08d40580941f50b614eba32813756ce99a750d67b5"
		wantEnc  = "5bb179339857d0e8f9f38c5f33bec4a2dbf8968d1ff586ebc81e1a1c0778fd9f"
	)
	if got := hex.EncodeToString(k.hash); got != wantHash {
		t.Errorf("hash key %s, want %s", got, wantHash)
	}
	if got := hex.EncodeToString(k.enc); got != wantEnc {
		t.Errorf("encryption key %s, want %s", got, wantEnc)
	}
	if bytes.Equal(k.hash, k.enc) {
		t.Error("the hash and encryption keys are equal")
	}
}
