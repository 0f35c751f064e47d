// Command example scores two accounts with the server's active version and prints their health.
//
//	go run ./example -address 127.0.0.1:50051 -token "$TOKEN"
//
// The flags default to $HEALTHSCORE_ADDRESS (else 127.0.0.1:50051) and $HEALTHSCORE_TOKEN (else
// none, for a server without authentication). The attributes are those of the default catalog.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	healthscore "github.com/healthscore/healthscore/clients/go"
	v1 "github.com/healthscore/healthscore/clients/go/healthscore/v1"
)

func main() {
	address := flag.String("address", envOr("HEALTHSCORE_ADDRESS", "127.0.0.1:50051"), "server host:port")
	token := flag.String("token", os.Getenv("HEALTHSCORE_TOKEN"), "bearer token (viewer role or above)")
	flag.Parse()

	client, err := healthscore.Dial(*address, *token)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	response, err := client.Scoring.ScoreAccounts(ctx, &v1.ScoreAccountsRequest{
		Accounts: []*v1.Account{
			account("acme", map[string]*v1.Value{
				"engagement_score": number(85),
				"usage_frequency":  text("daily"),
				"open_tickets":     number(1),
			}),
			account("globex", map[string]*v1.Value{
				"engagement_score": number(5),
				"usage_frequency":  text("inactive"),
				"open_tickets":     number(7),
			}),
		},
	})
	if err != nil {
		for _, violation := range healthscore.FieldViolations(err) {
			log.Printf("%s: %s", violation.GetField(), violation.GetDescription())
		}
		log.Fatal(err)
	}
	fmt.Printf("scored with %s\n", response.GetRuleset())
	for _, health := range response.GetResults() {
		score := "-"
		if health.Score != nil {
			score = fmt.Sprint(health.GetScore())
		}
		fmt.Printf("%-8s profile=%s score=%s rank=%s\n",
			health.GetAccountId(), health.GetProfile(), score, health.GetRank())
	}
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func account(id string, attributes map[string]*v1.Value) *v1.Account {
	return &v1.Account{Id: id, Attributes: attributes}
}

func number(x float64) *v1.Value { return &v1.Value{Kind: &v1.Value_NumberValue{NumberValue: x}} }

func text(s string) *v1.Value { return &v1.Value{Kind: &v1.Value_TextValue{TextValue: s}} }
