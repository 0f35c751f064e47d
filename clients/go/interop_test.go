package healthscore_test

// The interop test: the generated Go client against a live server, started by
// clients/interop/harness.py (see README.md). It changes the server's state (it publishes and
// activates a version), so point it at a throwaway server only.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	healthscore "github.com/healthscore/healthscore/clients/go"
	v1 "github.com/healthscore/healthscore/clients/go/healthscore/v1"
)

const multidimensionalDraft = "models/multidimensional/draft"

// server is the live server the harness started, with one client per role.
type server struct {
	address               string
	viewer, editor, admin *healthscore.Client
}

// liveServer connects to the server named by the harness's variables. Without
// HEALTHSCORE_ADDRESS the test is skipped, or fails when HEALTHSCORE_INTEROP_REQUIRED is set
// (ci.sh sets it, so CI cannot pass by skipping).
func liveServer(t *testing.T) server {
	t.Helper()
	address := os.Getenv("HEALTHSCORE_ADDRESS")
	if address == "" {
		if os.Getenv("HEALTHSCORE_INTEROP_REQUIRED") != "" {
			t.Fatal("HEALTHSCORE_INTEROP_REQUIRED is set but HEALTHSCORE_ADDRESS is not: " +
				"run the test through clients/interop/harness.py")
		}
		t.Skip("HEALTHSCORE_ADDRESS is unset: no server to test against " +
			"(run clients/go/ci.sh, or see clients/go/README.md)")
	}
	dial := func(role string) *healthscore.Client {
		token := os.Getenv("HEALTHSCORE_" + role + "_TOKEN")
		if token == "" {
			t.Fatalf("HEALTHSCORE_%s_TOKEN is unset", role)
		}
		client, err := healthscore.Dial(address, token)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		return client
	}
	return server{address, dial("VIEWER"), dial("EDITOR"), dial("ADMIN")}
}

func TestInterop(t *testing.T) {
	s := liveServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// Each step needs the ones before it: stop at the first that fails.
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"active version", func(t *testing.T) { checkActiveVersion(ctx, t, s) }},
		{"no token is unauthenticated", func(t *testing.T) { checkNoToken(ctx, t, s) }},
		{"publish and activate a custom profile", func(t *testing.T) { publishAndActivate(ctx, t, s) }},
		{"scores follow the spec", func(t *testing.T) { checkScores(ctx, t, s) }},
		{"invalid requests name the field", func(t *testing.T) { checkInvalidArguments(ctx, t, s) }},
		{"viewer cannot edit the draft", func(t *testing.T) { checkViewerCannotEdit(ctx, t, s) }},
		{"a response above 4 MiB arrives", func(t *testing.T) { checkLargeResponse(ctx, t, s) }},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

var versionName = regexp.MustCompile(`^models/(account-health|multidimensional)/versions/[1-9][0-9]*$`)

func checkActiveVersion(ctx context.Context, t *testing.T, s server) {
	active, err := s.viewer.Profiles.GetActiveVersion(ctx, &v1.GetActiveVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !versionName.MatchString(active.GetVersion()) {
		t.Fatalf("active version %q names no version", active.GetVersion())
	}
}

func checkNoToken(ctx context.Context, t *testing.T, s server) {
	anonymous, err := healthscore.Dial(s.address, "")
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	_, err = anonymous.Profiles.GetActiveVersion(ctx, &v1.GetActiveVersionRequest{})
	expectCode(t, err, codes.Unauthenticated)
}

// interopProfile is the one profile of the published draft: three dimensions weighing 50/30/20,
// one metric each (weight 100), with thresholds that leave no doubt which column a value is in.
func interopProfile() *v1.Profile {
	metric := func(attribute string, good, poor *v1.Criterion) *v1.Metric {
		return &v1.Metric{Attribute: attribute, Weight: 100, Good: good, Poor: poor}
	}
	return &v1.Profile{
		Name: "interop",
		Dimensions: []*v1.ProfileDimension{
			{Dimension: "usage", Weight: 50},
			{Dimension: "support", Weight: 30},
			{Dimension: "financial", Weight: 20},
		},
		Metrics: []*v1.Metric{
			metric("engagement_score",
				compare("engagement_score", v1.Operator_OPERATOR_GREATER_THAN_OR_EQUAL, 70),
				compare("engagement_score", v1.Operator_OPERATOR_LESS_THAN, 30)),
			metric("open_tickets",
				compare("open_tickets", v1.Operator_OPERATOR_LESS_THAN_OR_EQUAL, 2),
				compare("open_tickets", v1.Operator_OPERATOR_GREATER_THAN_OR_EQUAL, 6)),
			metric("invoices_overdue",
				compare("invoices_overdue", v1.Operator_OPERATOR_LESS_THAN_OR_EQUAL, 0),
				compare("invoices_overdue", v1.Operator_OPERATOR_GREATER_THAN_OR_EQUAL, 2)),
		},
	}
}

// interopSettings: POOR at or below 40, GOOD at or above 70, metrics without a value ignored.
func interopSettings() *v1.ModelSettings {
	return &v1.ModelSettings{PoorMax: proto.Int32(40), GoodMin: proto.Int32(70), IgnoreMissing: true}
}

func publishAndActivate(ctx context.Context, t *testing.T, s server) {
	_, err := s.editor.Profiles.UpdateDraft(ctx, &v1.UpdateDraftRequest{
		Draft: &v1.Draft{
			Name:     multidimensionalDraft,
			Settings: interopSettings(),
			Profiles: []*v1.Profile{interopProfile()},
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings", "profiles"}},
	})
	if err != nil {
		t.Fatalf("UpdateDraft: %v %v", err, healthscore.FieldViolations(err))
	}
	version, err := s.editor.Profiles.PublishDraft(ctx, &v1.PublishDraftRequest{
		Name: multidimensionalDraft, Comment: "Go interop test",
	})
	if err != nil {
		t.Fatalf("PublishDraft: %v", err)
	}
	if !versionName.MatchString(version.GetName()) || version.GetComment() != "Go interop test" {
		t.Fatalf("published %q with comment %q", version.GetName(), version.GetComment())
	}

	activate := &v1.ActivateVersionRequest{Name: version.GetName(), Comment: "Go interop test"}
	_, err = s.editor.Profiles.ActivateVersion(ctx, activate)
	expectCode(t, err, codes.PermissionDenied)

	activation, err := s.admin.Profiles.ActivateVersion(ctx, activate)
	if err != nil {
		t.Fatalf("ActivateVersion as admin: %v", err)
	}
	if activation.GetVersion() != version.GetName() {
		t.Fatalf("activated %q, want %q", activation.GetVersion(), version.GetName())
	}
	active, err := s.viewer.Profiles.GetActiveVersion(ctx, &v1.GetActiveVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if active.GetVersion() != version.GetName() {
		t.Fatalf("active version %q, want %q", active.GetVersion(), version.GetName())
	}
}

// A scored account and its expected health, worked out by hand from SPEC.md §3 and §5 for
// interopProfile and interopSettings (metric scores: poor 0, good 100, neither 60).
type expectation struct {
	account *v1.Account
	score   *int32 // nil: no score
	rank    v1.HealthRank
	reason  v1.UnknownReason
	profile string
	// dimension name -> effective weight after redistribution (checked when not nil)
	weights map[string]int32
}

func spec() []expectation {
	const profile = "interop"
	return []expectation{
		// Every metric good: 100 in every dimension, 100 >= 70.
		{account: account("thriving", values{"engagement_score": 90, "open_tickets": 1, "invoices_overdue": 0}),
			score: proto.Int32(100), rank: v1.HealthRank_HEALTH_RANK_GOOD, profile: profile},
		// Every metric poor: 0 <= 40.
		{account: account("struggling", values{"engagement_score": 10, "open_tickets": 9, "invoices_overdue": 3}),
			score: proto.Int32(0), rank: v1.HealthRank_HEALTH_RANK_POOR, profile: profile},
		// usage 60 (neither), support 0, financial 100: (60·50 + 0·30 + 100·20) / 100 = 50.
		{account: account("middling", values{"engagement_score": 50, "open_tickets": 9, "invoices_overdue": 0}),
			score: proto.Int32(50), rank: v1.HealthRank_HEALTH_RANK_AVERAGE, profile: profile,
			weights: map[string]int32{"usage": 50, "support": 30, "financial": 20}},
		// No invoices_overdue: financial is ignored and 50/30 become round(5000/80) = 63 and
		// round(3000/80) = 38 (half up); usage 100, support 60:
		// round((100·63 + 60·38) / 101) = round(8580 / 101 = 84.95...) = 85.
		{account: account("unbilled", values{"engagement_score": 90, "open_tickets": 4}),
			score: proto.Int32(85), rank: v1.HealthRank_HEALTH_RANK_GOOD, profile: profile,
			weights: map[string]int32{"usage": 63, "support": 38, "financial": 0}},
		// No values at all: every dimension ignored.
		{account: account("silent", values{}),
			rank: v1.HealthRank_HEALTH_RANK_UNKNOWN, reason: v1.UnknownReason_UNKNOWN_REASON_NO_DATA,
			profile: profile},
		// Cancelled comes before profile selection, whatever the values.
		{account: cancelled(account("gone", values{"engagement_score": 90})),
			rank: v1.HealthRank_HEALTH_RANK_UNKNOWN, reason: v1.UnknownReason_UNKNOWN_REASON_CANCELLED},
	}
}

func checkScores(ctx context.Context, t *testing.T, s server) {
	active, err := s.viewer.Profiles.GetActiveVersion(ctx, &v1.GetActiveVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	expected := spec()
	request := &v1.ScoreAccountsRequest{View: v1.ScoreView_SCORE_VIEW_DIMENSIONS}
	for _, e := range expected {
		request.Accounts = append(request.Accounts, e.account)
	}
	response, err := s.viewer.Scoring.ScoreAccounts(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	if response.GetRuleset() != active.GetVersion() {
		t.Errorf("scored with %q, want the active %q", response.GetRuleset(), active.GetVersion())
	}
	if len(response.GetResults()) != len(expected) {
		t.Fatalf("%d results for %d accounts", len(response.GetResults()), len(expected))
	}
	for i, e := range expected {
		got := response.GetResults()[i]
		id := e.account.GetId()
		if got.GetAccountId() != id {
			t.Errorf("result %d is %q, want %q (request order)", i, got.GetAccountId(), id)
			continue
		}
		if got.GetRulesetVersion() != active.GetVersion() {
			t.Errorf("%s: ruleset_version %q, want %q", id, got.GetRulesetVersion(), active.GetVersion())
		}
		if (got.Score == nil) != (e.score == nil) || (e.score != nil && got.GetScore() != *e.score) {
			t.Errorf("%s: score %s, want %s", id, show(got.Score), show(e.score))
		}
		if got.GetRank() != e.rank || got.GetUnknownReason() != e.reason {
			t.Errorf("%s: %s %s, want %s %s", id, got.GetRank(), got.GetUnknownReason(), e.rank, e.reason)
		}
		if got.GetProfile() != e.profile {
			t.Errorf("%s: profile %q, want %q", id, got.GetProfile(), e.profile)
		}
		if e.weights != nil {
			weights := map[string]int32{}
			for _, d := range got.GetDimensions() {
				weights[d.GetDimension()] = d.GetEffectiveWeight()
			}
			if !maps.Equal(weights, e.weights) {
				t.Errorf("%s: dimension weights %v, want %v", id, weights, e.weights)
			}
		}
	}
}

// checkLargeResponse scores enough accounts with the full view for the response to pass gRPC's
// default 4 MiB receive limit (the server sends up to 64 MiB).
func checkLargeResponse(ctx context.Context, t *testing.T, s server) {
	request := &v1.ScoreAccountsRequest{View: v1.ScoreView_SCORE_VIEW_FULL}
	for i := range 20_000 {
		request.Accounts = append(request.Accounts, account(fmt.Sprintf("large-%06d", i),
			values{"engagement_score": float64(i % 100), "open_tickets": float64(i % 7)}))
	}
	response, err := s.viewer.Scoring.ScoreAccounts(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	if size := proto.Size(response); size <= 4<<20 {
		t.Fatalf("the response is %d bytes: not above 4 MiB, the test proves nothing", size)
	}
	if len(response.GetResults()) != len(request.GetAccounts()) {
		t.Fatalf("%d results for %d accounts", len(response.GetResults()), len(request.GetAccounts()))
	}
}

func checkInvalidArguments(ctx context.Context, t *testing.T, s server) {
	// A TEXT value for the NUMBER attribute engagement_score, in the second account.
	bad := account("typo", values{})
	bad.Attributes["engagement_score"] = &v1.Value{Kind: &v1.Value_TextValue{TextValue: "ninety"}}
	_, err := s.viewer.Scoring.ScoreAccounts(ctx, &v1.ScoreAccountsRequest{
		Accounts: []*v1.Account{account("fine", values{"engagement_score": 50}), bad},
	})
	expectViolations(t, err, `accounts[1].attributes["engagement_score"]`)

	_, err = s.viewer.Profiles.GetDraft(ctx, &v1.GetDraftRequest{Name: "models/nope/draft"})
	expectViolations(t, err, "name")
}

func checkViewerCannotEdit(ctx context.Context, t *testing.T, s server) {
	before, err := s.viewer.Profiles.GetDraft(ctx, &v1.GetDraftRequest{Name: multidimensionalDraft})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.viewer.Profiles.UpdateDraft(ctx, &v1.UpdateDraftRequest{
		Draft:      &v1.Draft{Name: multidimensionalDraft, Settings: interopSettings()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings"}},
	})
	expectCode(t, err, codes.PermissionDenied)
	after, err := s.viewer.Profiles.GetDraft(ctx, &v1.GetDraftRequest{Name: multidimensionalDraft})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetEtag() != before.GetEtag() {
		t.Errorf("the refused update changed the draft: etag %q -> %q", before.GetEtag(), after.GetEtag())
	}
}

func expectCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

// expectViolations checks that err is INVALID_ARGUMENT with BadRequest field violations on
// exactly the given fields.
func expectViolations(t *testing.T, err error, fields ...string) {
	t.Helper()
	expectCode(t, err, codes.InvalidArgument)
	var got []string
	for _, violation := range healthscore.FieldViolations(err) {
		got = append(got, violation.GetField())
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("field violations %q, want %q", got, fields)
	}
}

type values map[string]float64

func account(id string, numbers values) *v1.Account {
	a := &v1.Account{Id: id, Attributes: map[string]*v1.Value{}}
	for name, x := range numbers {
		a.Attributes[name] = &v1.Value{Kind: &v1.Value_NumberValue{NumberValue: x}}
	}
	return a
}

func cancelled(a *v1.Account) *v1.Account {
	a.Status = v1.AccountStatus_ACCOUNT_STATUS_CANCELLED
	return a
}

func compare(attribute string, op v1.Operator, x float64) *v1.Criterion {
	return &v1.Criterion{Kind: &v1.Criterion_Predicate{Predicate: &v1.Predicate{
		Attribute: attribute, Operator: op, Operand: &v1.Predicate_Number{Number: x},
	}}}
}

func show(score *int32) string {
	if score == nil {
		return "none"
	}
	return fmt.Sprint(*score)
}
