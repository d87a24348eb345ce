package provider_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mountenv"
)

// TestMountBinaryAndBase64Secrets: a SecretBinary secret is written as its
// exact bytes, and decode turns base64 held in a string secret, whole or in
// its selected keys, into the bytes it encodes.
func TestMountBinaryAndBase64Secrets(t *testing.T) {
	e := mountenv.New(t)
	raw := []byte{0x00, 0xff, 0xfe, '\n', 0x80, 'k', 0x00} // not UTF-8, NULs and a newline
	if _, err := e.AWS.Admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("pmp/keystore"), SecretBinary: raw,
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	e.PutSecret("pmp-truststore", base64.StdEncoding.EncodeToString(raw)+"\n")
	e.PutSecret("pmp-tls", `{"TLS": {"Cert": "`+base64.RawURLEncoding.EncodeToString(raw)+`", "Name": "plain"}}`)

	resp, err := e.Mount(e.Req(`- objectName: pmp/keystore
- objectName: pmp-truststore
  decode: base64
- objectName: pmp-tls
  objectAlias: tls
  keys: [TLS.Cert]
  decode: base64url`))
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	want := map[string]string{
		"pmp_keystore":   string(raw),
		"pmp-truststore": string(raw),
		"tls/TLS.Cert":   string(raw),
	}
	if diff := cmp.Diff(want, mountenv.Files(resp)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
