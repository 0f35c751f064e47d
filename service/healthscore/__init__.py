"""healthscore: customer-health scoring over a Rust core."""
