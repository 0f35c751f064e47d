package healthscore_test

// The shared service config and the message limit, against an in-process fake server whose
// methods fail as a test scripts them: UNAVAILABLE is retried for reads and scoring, never for
// writes, and no other code is; a response above gRPC's 4 MiB default arrives.

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	healthscore "github.com/healthscore/healthscore/clients/go"
	v1 "github.com/healthscore/healthscore/clients/go/healthscore/v1"
)

// fake answers GetDraft (a read), PublishDraft (a write) and ScoreAccounts, failing each call
// with code while failures[method] is positive, and counting the calls.
type fake struct {
	v1.UnimplementedProfileServiceServer
	v1.UnimplementedScoringServiceServer
	mu       sync.Mutex
	code     codes.Code
	failures map[string]int
	calls    map[string]int
	results  int // accounts in each ScoreAccounts response
}

func (f *fake) fail(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if f.failures[method] > 0 {
		f.failures[method]--
		return status.Error(f.code, method+": scripted failure")
	}
	return nil
}

func (f *fake) GetDraft(context.Context, *v1.GetDraftRequest) (*v1.Draft, error) {
	if err := f.fail("GetDraft"); err != nil {
		return nil, err
	}
	return &v1.Draft{Name: "models/multidimensional/draft", Etag: "e1"}, nil
}

func (f *fake) PublishDraft(context.Context, *v1.PublishDraftRequest) (*v1.Version, error) {
	if err := f.fail("PublishDraft"); err != nil {
		return nil, err
	}
	return &v1.Version{Name: "models/multidimensional/versions/2"}, nil
}

func (f *fake) ScoreAccounts(context.Context, *v1.ScoreAccountsRequest) (*v1.ScoreAccountsResponse, error) {
	if err := f.fail("ScoreAccounts"); err != nil {
		return nil, err
	}
	response := &v1.ScoreAccountsResponse{Ruleset: "fake"}
	for i := range f.results {
		response.Results = append(response.Results, &v1.AccountHealth{
			AccountId: strings.Repeat("x", 100) + string(rune('a'+i%26)),
		})
	}
	return response, nil
}

// serveFake starts the fake on a loopback port (with a 64 MiB send limit, as the real server)
// and dials it with healthscore.Dial.
func serveFake(t *testing.T, f *fake, opts ...grpc.DialOption) *healthscore.Client {
	t.Helper()
	f.failures, f.calls = map[string]int{}, map[string]int{}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	v1.RegisterProfileServiceServer(server, f)
	v1.RegisterScoringServiceServer(server, f)
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	client, err := healthscore.Dial(listener.Addr().String(), "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func context20s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUnavailableIsRetriedForReadsAndScoring(t *testing.T) {
	f := &fake{code: codes.Unavailable}
	client := serveFake(t, f)
	f.failures["GetDraft"], f.failures["ScoreAccounts"] = 2, 3
	ctx := context20s(t)
	if draft, err := client.Profiles.GetDraft(ctx, &v1.GetDraftRequest{}); err != nil || draft.GetEtag() != "e1" {
		t.Fatalf("GetDraft = %v, %v", draft, err)
	}
	if _, err := client.Scoring.ScoreAccounts(ctx, &v1.ScoreAccountsRequest{}); err != nil {
		t.Fatalf("ScoreAccounts: %v", err)
	}
	if f.calls["GetDraft"] != 3 || f.calls["ScoreAccounts"] != 4 {
		t.Fatalf("calls = %v, want GetDraft 3 and ScoreAccounts 4", f.calls)
	}
	// At most 5 attempts in all.
	f.failures["GetDraft"], f.calls["GetDraft"] = 10, 0
	if _, err := client.Profiles.GetDraft(ctx, &v1.GetDraftRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("GetDraft after 10 failures: %v, want UNAVAILABLE", err)
	}
	if f.calls["GetDraft"] != 5 {
		t.Fatalf("GetDraft attempts = %d, want 5", f.calls["GetDraft"])
	}
}

func TestWritesAreNeverRetried(t *testing.T) {
	f := &fake{code: codes.Unavailable}
	client := serveFake(t, f)
	f.failures["PublishDraft"] = 1
	if _, err := client.Profiles.PublishDraft(context20s(t), &v1.PublishDraftRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("PublishDraft: %v, want UNAVAILABLE", err)
	}
	if f.calls["PublishDraft"] != 1 {
		t.Fatalf("PublishDraft attempts = %d, want 1", f.calls["PublishDraft"])
	}
}

func TestOtherCodesAreNotRetried(t *testing.T) {
	for _, code := range []codes.Code{codes.InvalidArgument, codes.DeadlineExceeded, codes.Internal} {
		f := &fake{code: code}
		client := serveFake(t, f)
		f.failures["GetDraft"], f.failures["ScoreAccounts"] = 1, 1
		ctx := context20s(t)
		if _, err := client.Profiles.GetDraft(ctx, &v1.GetDraftRequest{}); status.Code(err) != code {
			t.Fatalf("GetDraft: %v, want %v", err, code)
		}
		if _, err := client.Scoring.ScoreAccounts(ctx, &v1.ScoreAccountsRequest{}); status.Code(err) != code {
			t.Fatalf("ScoreAccounts: %v, want %v", err, code)
		}
		if f.calls["GetDraft"] != 1 || f.calls["ScoreAccounts"] != 1 {
			t.Fatalf("%v: calls = %v, want one each", code, f.calls)
		}
	}
}

func TestAResponseLargerThan4MiBArrives(t *testing.T) {
	f := &fake{results: 60_000} // about 6.5 MB
	client := serveFake(t, f)
	response, err := client.Scoring.ScoreAccounts(context20s(t), &v1.ScoreAccountsRequest{})
	if err != nil {
		t.Fatalf("ScoreAccounts: %v", err)
	}
	if len(response.GetResults()) != 60_000 {
		t.Fatalf("results = %d", len(response.GetResults()))
	}
	// The limit is the caller's to set.
	small := serveFake(t, f, healthscore.WithMaxMessageBytes(4<<20))
	if _, err := small.Scoring.ScoreAccounts(context20s(t), &v1.ScoreAccountsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("ScoreAccounts with a 4 MiB limit: %v, want RESOURCE_EXHAUSTED", err)
	}
}
