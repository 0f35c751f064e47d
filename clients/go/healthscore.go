// Package healthscore is a thin convenience layer over the generated gRPC clients of
// healthscore.v1 (package healthscorev1 in healthscore/v1): a connection that sends a bearer token
// with every call, and the field violations of a failed call.
package healthscore

import (
	"context"
	"crypto/tls"
	_ "embed"
	"fmt"
	"net"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	healthscorev1 "github.com/healthscore/healthscore/clients/go/healthscore/v1"
)

// ServiceConfig is gRPC's service config every healthscore client shares (its source is
// proto/healthscore/v1/service_config.json): reads, scoring, account data and history calls are
// retried on UNAVAILABLE only, with exponential backoff; design writes never are (a write may
// have happened before the connection broke); unary calls have a 30 s deadline. Dial uses it as
// the default service config.
//
//go:embed healthscore/v1/service_config.json
var ServiceConfig string

// DefaultMaxMessageBytes is the largest message a Client sends or receives: the server's own
// limit (gRPC's default receive limit is 4 MiB). WithMaxMessageBytes changes it.
const DefaultMaxMessageBytes = 64 << 20

// WithMaxMessageBytes sets the largest message the connection sends and receives.
func WithMaxMessageBytes(n int) grpc.DialOption {
	return grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(n),
		grpc.MaxCallSendMsgSize(n),
		// A call is retried only while gRPC still holds its request: as large as it may be.
		grpc.MaxRetryRPCBufferSize(n),
	)
}

// Client holds one connection and the two service clients over it.
type Client struct {
	Profiles healthscorev1.ProfileServiceClient
	Scoring  healthscorev1.ScoringServiceClient
	conn     *grpc.ClientConn
}

// Dial connects to a healthscore server at address (host:port). A non-empty token is sent with
// every call as `authorization: Bearer <token>`. Loopback addresses (localhost, 127.0.0.0/8, ::1)
// are reached over plaintext, any other over TLS with the system's roots; opts come last, so they
// can replace the transport credentials, but the token is never sent over plaintext to a host
// that is not loopback. Calls are retried and get deadlines as ServiceConfig says, and messages
// up to DefaultMaxMessageBytes are sent and received; opts may replace both
// (grpc.WithDefaultServiceConfig, WithMaxMessageBytes). Dial does not wait for the server: the
// first call does.
func Dial(address, token string, opts ...grpc.DialOption) (*Client, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("healthscore: address %q is not host:port: %w", address, err)
	}
	loopback := isLoopback(host)
	transport := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if loopback {
		transport = insecure.NewCredentials()
	}
	all := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultServiceConfig(ServiceConfig),
		WithMaxMessageBytes(DefaultMaxMessageBytes),
	}
	if token != "" {
		all = append(all, grpc.WithPerRPCCredentials(bearer{token: token, loopback: loopback}))
	}
	conn, err := grpc.NewClient(address, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("healthscore: %w", err)
	}
	return &Client{
		Profiles: healthscorev1.NewProfileServiceClient(conn),
		Scoring:  healthscorev1.NewScoringServiceClient(conn),
		conn:     conn,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer is the per-call `authorization` metadata.
type bearer struct {
	token    string
	loopback bool
}

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if !b.loopback {
		info, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(info.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("healthscore: not sending the token over an insecure connection: %w", err)
		}
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false: the check is GetRequestMetadata's, which lets loopback
// connections be plaintext.
func (b bearer) RequireTransportSecurity() bool { return false }

// FieldViolations returns the field violations of the google.rpc.BadRequest details of err, the
// error of a failed call (INVALID_ARGUMENT names each offending request field there); nil when it
// carries none.
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	s, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var violations []*errdetails.BadRequest_FieldViolation
	for _, detail := range s.Details() {
		if bad, ok := detail.(*errdetails.BadRequest); ok {
			violations = append(violations, bad.GetFieldViolations()...)
		}
	}
	return violations
}
