package healthscore_test

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	healthscore "github.com/healthscore/healthscore/clients/go"
)

func TestFieldViolations(t *testing.T) {
	s, err := status.New(codes.InvalidArgument, "bad request").WithDetails(
		&errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "healthscore.v1"},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "name", Description: "not a draft name"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := healthscore.FieldViolations(s.Err())
	if len(got) != 1 || got[0].GetField() != "name" || got[0].GetDescription() != "not a draft name" {
		t.Fatalf("FieldViolations = %v", got)
	}
	for _, err := range []error{nil, errors.New("not a status"), status.Error(codes.NotFound, "")} {
		if got := healthscore.FieldViolations(err); got != nil {
			t.Errorf("FieldViolations(%v) = %v, want nil", err, got)
		}
	}
}

func TestDialNeedsHostAndPort(t *testing.T) {
	if _, err := healthscore.Dial("127.0.0.1", "token"); err == nil {
		t.Fatal("Dial accepted an address without a port")
	}
}
