package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
)

// Source is where the validated secret came from.
type Source struct {
	// File is the file read, "-" for stdin.
	File string `json:"file,omitempty"`
	// Secret, ARN, VersionID and Region name a secret read from Secrets
	// Manager.
	Secret    string `json:"secret,omitempty"`
	ARN       string `json:"arn,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Region    string `json:"region,omitempty"`
}

func (s Source) String() string {
	switch {
	case s.Secret != "" && s.VersionID != "":
		return fmt.Sprintf("secret %s (version %s, %s)", s.Secret, s.VersionID, s.Region)
	case s.Secret != "":
		return "secret " + s.Secret
	case s.File == "-":
		return "standard input"
	}
	return s.File
}

// maxSecret is Secrets Manager's limit on a secret value.
const maxSecret = 64 << 10

func readFile(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecret+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecret {
		return nil, fmt.Errorf("%s is larger than a Secrets Manager secret can be (64 KiB)", path)
	}
	return b, nil
}

// readSecret reads the current version of a secret with the caller's own
// AWS credentials and configuration (environment, profile, SSO, ...: the
// SDK's default chain), as the AWS CLI would.
func readSecret(ctx context.Context, src *Source) ([]byte, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if src.Region != "" {
		opts = append(opts, awsconfig.WithRegion(src.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading your AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: pass --region or set AWS_REGION")
	}
	src.Region = cfg.Region
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(src.Secret)})
	if err != nil {
		return nil, readError(src, err)
	}
	src.ARN, src.VersionID = aws.ToString(out.ARN), aws.ToString(out.VersionId)
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	return out.SecretBinary, nil
}

// readError says why the secret could not be read, and what to do.
func readError(src *Source, err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("reading secret %s in %s with your AWS credentials (environment, profile or SSO): %w", src.Secret, src.Region, err)
	}
	switch apiErr.ErrorCode() {
	case "ResourceNotFoundException":
		return fmt.Errorf("secret %s was not found in %s: check the name and --region", src.Secret, src.Region)
	case "AccessDeniedException":
		return fmt.Errorf("your AWS identity may not read secret %s in %s (AccessDeniedException): validate reads it with your own credentials, which need secretsmanager:GetSecretValue on it; or validate a file", src.Secret, src.Region)
	case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		return fmt.Errorf("your AWS credentials were not accepted by Secrets Manager (%s): refresh them (aws sso login, or new keys)", apiErr.ErrorCode())
	}
	return fmt.Errorf("reading secret %s in %s: %s: %s", src.Secret, src.Region, apiErr.ErrorCode(), apiErr.ErrorMessage())
}
