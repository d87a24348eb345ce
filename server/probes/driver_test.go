package probes_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
)

// driverConn is the driver's connection to a provider socket.
type driverConn struct {
	conn *grpc.ClientConn
	c    v1alpha1.CSIDriverProviderClient
}

func dialDriver(t *testing.T, sock string) *driverConn {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Error(err)
		return nil
	}
	return &driverConn{conn: conn, c: v1alpha1.NewCSIDriverProviderClient(conn)}
}

func (d *driverConn) close() { d.conn.Close() }

func (d *driverConn) mount() (*v1alpha1.MountResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.c.Mount(ctx, driverreq.Request{
		PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001",
		ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
		Parameters: map[string]string{"objects": "- objectName: PMP-Production-Credentials\n"},
		Token:      "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
	}.Build())
}
