package cmdline

import (
	"flag"
	"slices"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
)

// ModeFlags registers the flags that choose a Mendix app environment's
// modes (--database, --database-auth, --storage, --storage-auth), each
// empty unless given: the caller applies the defaults, or infers the
// kinds from a secret (mendixenv.Infer).
func ModeFlags(fs *flag.FlagSet) *mendixenv.Modes {
	var m mendixenv.Modes
	var dbs, storages []string
	for _, d := range mendixenv.Databases() {
		dbs = append(dbs, d.Name)
	}
	auths := []string{}
	for _, s := range mendixenv.Storages() {
		storages = append(storages, s.Name)
		for _, a := range s.Auths {
			if !slices.Contains(auths, a) {
				auths = append(auths, a)
			}
		}
	}
	fs.StringVar(&m.Database, "database", "", "with --environment: the database kind, "+strings.Join(dbs, " or ")+" (default "+dbs[0]+", or the secret's database-type)")
	fs.StringVar(&m.DatabaseAuth, "database-auth", "", "with --environment: "+strings.Join(mendixenv.DatabaseAuths, " or ")+" (RDS IAM authentication: no database-password) (default password)")
	fs.StringVar(&m.Storage, "storage", "", "with --environment: the file storage kind, "+strings.Join(storages, " or ")+" (default s3, or the secret's storage-service-name)")
	fs.StringVar(&m.StorageAuth, "storage-auth", "", "with --environment: "+strings.Join(auths, ", ")+" (S3 with IRSA: no access key pair; Azure with a managed identity: no account key) (default keys)")
	return &m
}

// ModesGiven reports which of the mode flags were given, for a usage
// error when they come without --environment.
func ModesGiven(fs *flag.FlagSet) []string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "database", "database-auth", "storage", "storage-auth":
			out = append(out, "--"+f.Name)
		}
	})
	return out
}
