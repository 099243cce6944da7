// Package s3 implements storage.Bucket over an S3-compatible object store
// with aws-sdk-go-v2's S3 client: AWS S3, SeaweedFS, MinIO and the like.
// Credentials come from the SDK's standard chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files, web identity, …).
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mlservice/mlservice/storage"
)

// Bucket is a storage.Bucket on one S3 bucket under one key prefix. It is
// safe for concurrent use.
type Bucket struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends with "/"
	name   string // s3://bucket/prefix, for messages
}

var _ storage.Bucket = (*Bucket)(nil)

// Open returns the bucket rawURL names:
//
//	s3://BUCKET[/PREFIX][?endpoint=URL][&region=REGION][&use_path_style=true][&create_bucket=true]
//
// endpoint is the service's base URL (for an S3-compatible engine such as
// SeaweedFS: http://HOST:8333); without it the SDK's AWS endpoint for the
// region is used. region defaults to the SDK's (AWS_REGION, the profile),
// else us-east-1. use_path_style addresses the bucket in the path rather
// than the host name, as most engines other than AWS need. create_bucket
// creates the bucket when it does not exist (for a trainer that starts on
// an empty engine). Open makes no request unless create_bucket is given.
func Open(ctx context.Context, rawURL string) (*Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open s3 url: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("open s3 url %q: want s3://BUCKET/PREFIX", redact(u))
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "use_path_style", "create_bucket":
		default:
			return nil, fmt.Errorf("open s3 url %q: unknown parameter %q", redact(u), k)
		}
	}
	pathStyle, create := false, false
	for name, dst := range map[string]*bool{"use_path_style": &pathStyle, "create_bucket": &create} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("open s3 url %q: %s=%q is not a boolean", redact(u), name, v)
			}
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithDefaultRegion("us-east-1"),
		// Checksums the engine does not ask for cost a pass over each body
		// and are not understood by every S3-compatible engine; the
		// manifest's SHA-256 is what guards a version's bytes.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("open s3 url %q: load AWS configuration: %w", redact(u), err)
	}
	endpoint := q.Get("endpoint")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
	})
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	b := &Bucket{client: client, bucket: u.Host, prefix: prefix, name: "s3://" + u.Host + "/" + prefix}
	if create {
		if err := b.create(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// redact drops anything but scheme, host and path from u for messages.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// create makes the bucket unless it exists.
func (b *Bucket) create(ctx context.Context) error {
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket}); err == nil {
		return nil
	}
	_, err := b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", b.bucket, err)
	}
	return nil
}

// String returns s3://BUCKET/PREFIX.
func (b *Bucket) String() string { return b.name }

// Client returns the SDK client, for what the Bucket interface does not
// cover (a test's or an operator's tooling).
func (b *Bucket) Client() *s3.Client { return b.client }

// Key returns the full object key for key.
func (b *Bucket) Key(key string) string { return b.prefix + key }

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.bucket }

// Get implements storage.Bucket.
func (b *Bucket) Get(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(b.prefix + key)})
	if err != nil {
		return nil, "", b.wrap("get", key, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > limit {
		return nil, "", fmt.Errorf("get %s: %d bytes, the limit is %d: %w", key, *out.ContentLength, limit, storage.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, "", b.wrap("get", key, err)
	}
	if int64(len(data)) > limit {
		return nil, "", fmt.Errorf("get %s: over %d bytes: %w", key, limit, storage.ErrTooLarge)
	}
	return data, aws.ToString(out.ETag), nil
}

// Head implements storage.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (string, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.prefix + key)})
	if err != nil {
		return "", b.wrap("head", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// Put implements storage.Bucket. A conditional Put is sent once: a retry
// after a lost answer would meet its own write and report a false conflict.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, cond storage.Condition) (string, error) {
	in := &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(b.prefix + key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	var optFns []func(*s3.Options)
	if cond.IfMatch != "" {
		in.IfMatch = aws.String(cond.IfMatch)
	}
	if cond.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if cond != (storage.Condition{}) {
		optFns = append(optFns, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	}
	out, err := b.client.PutObject(ctx, in, optFns...)
	if err != nil {
		return "", b.wrap("put", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// Delete implements storage.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(b.prefix + key)})
	if err != nil {
		if err := b.wrap("delete", key, err); !errors.Is(err, storage.ErrNotExist) {
			return err
		}
	}
	return nil
}

// List implements storage.Bucket.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, b.wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), b.prefix))
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// wrap maps the S3 answers the protocol acts on to storage's errors: 404 to
// fs.ErrNotExist, 412 (and 409, which AWS answers to two conditional writes
// racing) to storage.ErrPreconditionFailed.
func (b *Bucket) wrap(op, key string, err error) error {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%s %s%s: %w", op, b.name, key, storage.ErrNotExist)
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%s %s%s: %w", op, b.name, key, storage.ErrPreconditionFailed)
		}
	}
	return fmt.Errorf("%s %s%s: %w", op, b.name, key, err)
}
