package awsfake

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Creds are an identity's credentials as a read asks for them
// (identity.PodCredentials): ASIATEST1, ASIATEST2, ... : Get hands out the
// current ones (fresh the first time, cached after), Renew the next ones.
// The zero value has none yet: its first Get exchanges them.
type Creds struct {
	mu sync.Mutex
	n  int
	// gets counts Get; renewed are the access keys Renew was told were
	// rejected.
	gets    int
	renewed []string
}

// CachedCreds are credentials a previous Mount exchanged.
func CachedCreds() *Creds { return &Creds{n: 1} }

func (f *Creds) current() aws.Credentials {
	return aws.Credentials{AccessKeyID: fmt.Sprintf("ASIATEST%d", f.n), SecretAccessKey: "s", SessionToken: "t"}
}

// Get returns the current credentials.
func (f *Creds) Get(context.Context) (aws.Credentials, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	fresh := f.n == 0
	if fresh {
		f.n = 1
	}
	return f.current(), fresh, nil
}

// Renew records rejected and returns the next credentials.
func (f *Creds) Renew(_ context.Context, rejected aws.Credentials) (aws.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = append(f.renewed, rejected.AccessKeyID)
	f.n++
	return f.current(), nil
}

// Gets is how many times Get was called.
func (f *Creds) Gets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// Renewed are the access keys Renew was told were rejected, in order.
func (f *Creds) Renewed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewed
}
