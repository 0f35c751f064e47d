// Package healthscore is a thin convenience layer over the generated gRPC clients of
// healthscore.v1 (package healthscorev1 in healthscore/v1): a connection that sends a bearer token
// with every call, and the field violations of a failed call.
package healthscore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	healthscorev1 "github.com/healthscore/healthscore/clients/go/healthscore/v1"
)

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
// that is not loopback. Dial does not wait for the server: the first call does.
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
	all := []grpc.DialOption{grpc.WithTransportCredentials(transport)}
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
